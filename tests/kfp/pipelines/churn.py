"""examples/churn/churn.ipynb written by hand with the KFP SDK: the notebook's steps as Lightweight
Python components named by its step names, its parameters as the pipeline's, each variable that
flows between steps as one artifact of the variable's name (pickled with joblib), each step's
metrics as a system.Metrics output `metrics`. The code is the notebook's, minus the TensorBoard
curves (they change no metric)."""
from kfp import dsl
from kfp.dsl import Artifact, Input, Metrics, Output

IMAGE = "python:3.11"
component = dsl.component(base_image=IMAGE, install_kfp_package=False)


@component
def load(DATA_FILE: str, customers: Output[Artifact]):
    import joblib
    import pandas as pd
    frame = pd.read_csv(DATA_FILE)
    print(frame.shape, "churn rate %.3f" % frame["churned"].mean())
    joblib.dump(frame, customers.path)


@component
def preprocess(TEST_SIZE: float, SEED: int, customers: Input[Artifact],
               X_train: Output[Artifact], X_test: Output[Artifact], y_train: Output[Artifact],
               y_test: Output[Artifact], feature_names: Output[Artifact]):
    import joblib
    import pandas as pd
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler
    frame = joblib.load(customers.path)
    categorical = ["contract", "internet_service", "payment_method"]
    features = pd.get_dummies(frame.drop(columns=["customer_id", "churned"]),
                              columns=categorical, dtype=float)
    features["charges_per_month_of_tenure"] = features["total_charges"] / features["tenure_months"]
    labels = frame["churned"].to_numpy()
    train_raw, test_raw, train_y, test_y = train_test_split(
        features.to_numpy(), labels, test_size=TEST_SIZE, random_state=SEED, stratify=labels)
    scaler = StandardScaler().fit(train_raw)
    joblib.dump(scaler.transform(train_raw), X_train.path)
    joblib.dump(scaler.transform(test_raw), X_test.path)
    joblib.dump(train_y, y_train.path)
    joblib.dump(test_y, y_test.path)
    joblib.dump(list(features.columns), feature_names.path)


@component
def train_logreg(SEED: int, X_train: Input[Artifact], X_test: Input[Artifact],
                 y_train: Input[Artifact], y_test: Input[Artifact],
                 logreg_scores: Output[Artifact], metrics: Output[Metrics]):
    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    train_x, test_x = joblib.load(X_train.path), joblib.load(X_test.path)
    train_y, test_y = joblib.load(y_train.path), joblib.load(y_test.path)
    search = GridSearchCV(
        LogisticRegression(max_iter=5000),
        {"C": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0], "penalty": ["l2"],
         "solver": ["lbfgs", "newton-cg", "liblinear"]},
        cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED),
        scoring="roc_auc",
        n_jobs=1,
    )
    search.fit(train_x, train_y)
    proba = search.best_estimator_.predict_proba(test_x)[:, 1]
    pred = (proba >= 0.5).astype(int)
    scores = {"model": "logistic regression", "auc": float(roc_auc_score(test_y, proba)),
              "accuracy": float(accuracy_score(test_y, pred)), "f1": float(f1_score(test_y, pred))}
    joblib.dump(scores, logreg_scores.path)
    metrics.log_metric("logreg_auc", scores["auc"])


@component
def train_forest(N_TREES: int, SEED: int, X_train: Input[Artifact], X_test: Input[Artifact],
                 y_train: Input[Artifact], y_test: Input[Artifact], forest: Output[Artifact],
                 forest_scores: Output[Artifact], metrics: Output[Metrics]):
    import joblib
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    train_x, test_x = joblib.load(X_train.path), joblib.load(X_test.path)
    train_y, test_y = joblib.load(y_train.path), joblib.load(y_test.path)
    model = RandomForestClassifier(n_estimators=N_TREES, max_depth=12, min_samples_leaf=3,
                                   random_state=SEED, n_jobs=1)
    model.fit(train_x, train_y)
    proba = model.predict_proba(test_x)[:, 1]
    pred = (proba >= 0.5).astype(int)
    scores = {"model": "random forest", "auc": float(roc_auc_score(test_y, proba)),
              "accuracy": float(accuracy_score(test_y, pred)), "f1": float(f1_score(test_y, pred))}
    joblib.dump(model, forest.path)
    joblib.dump(scores, forest_scores.path)
    metrics.log_metric("forest_auc", scores["auc"])


@component
def train_gbm(N_TREES: int, SEED: int, X_train: Input[Artifact], X_test: Input[Artifact],
              y_train: Input[Artifact], y_test: Input[Artifact], gbm_scores: Output[Artifact],
              metrics: Output[Metrics]):
    import joblib
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    train_x, test_x = joblib.load(X_train.path), joblib.load(X_test.path)
    train_y, test_y = joblib.load(y_train.path), joblib.load(y_test.path)
    model = GradientBoostingClassifier(n_estimators=N_TREES, max_depth=3, learning_rate=0.05,
                                       subsample=0.8, random_state=SEED)
    model.fit(train_x, train_y)
    proba = model.predict_proba(test_x)[:, 1]
    pred = (proba >= 0.5).astype(int)
    scores = {"model": "gradient boosting", "auc": float(roc_auc_score(test_y, proba)),
              "accuracy": float(accuracy_score(test_y, pred)), "f1": float(f1_score(test_y, pred))}
    joblib.dump(scores, gbm_scores.path)
    metrics.log_metric("gbm_auc", scores["auc"])


@component
def evaluate(feature_names: Input[Artifact], forest: Input[Artifact],
             forest_scores: Input[Artifact], gbm_scores: Input[Artifact],
             logreg_scores: Input[Artifact], metrics: Output[Metrics]):
    import joblib
    import pandas as pd
    rows = [joblib.load(a.path) for a in (logreg_scores, forest_scores, gbm_scores)]
    results = pd.DataFrame(rows).set_index("model").sort_values("auc", ascending=False)
    model = joblib.load(forest.path)
    top = pd.Series(model.feature_importances_, index=joblib.load(feature_names.path))
    print(results.round(4).to_string())
    print("best:", results.index[0])
    print("top churn drivers (forest):", ", ".join(top.sort_values(ascending=False).head(5).index))
    metrics.log_metric("best_auc", float(results["auc"].iloc[0]))


@dsl.pipeline(name="churn",
              description="Customer churn: three models trained in parallel and compared")
def pipeline(DATA_FILE: str = "customers.csv", TEST_SIZE: float = 0.25, SEED: int = 7,
             N_TREES: int = 300):
    data = load(DATA_FILE=DATA_FILE).set_display_name("load")
    split = preprocess(TEST_SIZE=TEST_SIZE, SEED=SEED, customers=data.outputs["customers"])
    split.set_display_name("preprocess")
    xy = dict(X_train=split.outputs["X_train"], X_test=split.outputs["X_test"],
              y_train=split.outputs["y_train"], y_test=split.outputs["y_test"])
    logreg = train_logreg(SEED=SEED, **xy).set_display_name("train_logreg")
    forest = train_forest(N_TREES=N_TREES, SEED=SEED, **xy).set_display_name("train_forest")
    gbm = train_gbm(N_TREES=N_TREES, SEED=SEED, **xy).set_display_name("train_gbm")
    best = evaluate(feature_names=split.outputs["feature_names"], forest=forest.outputs["forest"],
                    forest_scores=forest.outputs["forest_scores"],
                    gbm_scores=gbm.outputs["gbm_scores"],
                    logreg_scores=logreg.outputs["logreg_scores"]).set_display_name("evaluate")
    # Chard's default: no caching (a step may read files KFP does not see change).
    for task in (data, split, logreg, forest, gbm, best):
        task.set_caching_options(False)
