"""Generate customers.csv, the churn example's data set (deterministic: same bytes every time).

Synthetic telecom customers: tenure, charges, contract, payment method, support calls and so on,
with churn drawn from a logistic model of those features plus noise. Standard library only.

    python3 make_data.py            # writes customers.csv next to this script
"""
import csv
import math
import os
import random

ROWS = 4000
SEED = 20240611


def main():
    rng = random.Random(SEED)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "customers.csv")
    contracts = ["month-to-month", "one-year", "two-year"]
    payments = ["electronic-check", "mailed-check", "bank-transfer", "credit-card"]
    internet = ["dsl", "fiber", "none"]
    rows = []
    for i in range(ROWS):
        contract = rng.choices(contracts, weights=[55, 25, 20])[0]
        tenure = max(1, int(rng.expovariate(1 / (12 if contract == "month-to-month" else 36))))
        tenure = min(tenure, 72)
        service = rng.choices(internet, weights=[35, 45, 20])[0]
        base = {"dsl": 45.0, "fiber": 80.0, "none": 22.0}[service]
        monthly = round(base + rng.gauss(0, 12), 2)
        monthly = max(monthly, 18.0)
        total = round(monthly * tenure * rng.uniform(0.95, 1.05), 2)
        calls = min(int(rng.expovariate(1 / 1.5)), 12)
        senior = 1 if rng.random() < 0.16 else 0
        payment = rng.choice(payments)
        paperless = 1 if rng.random() < 0.6 else 0
        z = (
            -1.2
            + (1.3 if contract == "month-to-month" else -0.6 if contract == "one-year" else -1.6)
            - 0.045 * tenure
            + 0.018 * (monthly - 60)
            + 0.35 * calls
            + (0.55 if payment == "electronic-check" else 0.0)
            + (0.4 if service == "fiber" else 0.0)
            + 0.3 * senior
            + 0.2 * paperless
            + rng.gauss(0, 0.8)
        )
        churn = 1 if rng.random() < 1 / (1 + math.exp(-z)) else 0
        rows.append([
            "C%05d" % (i + 1), tenure, contract, service, "%.2f" % monthly, "%.2f" % total,
            calls, senior, payment, paperless, churn,
        ])
    with open(path + ".tmp", "w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([
            "customer_id", "tenure_months", "contract", "internet_service", "monthly_charges",
            "total_charges", "support_calls", "senior", "payment_method", "paperless_billing",
            "churned",
        ])
        writer.writerows(rows)
    os.replace(path + ".tmp", path)
    print("wrote %s (%d rows)" % (path, ROWS))


if __name__ == "__main__":
    main()
