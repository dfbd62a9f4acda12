import { writeFileSync } from 'node:fs';
const dir = new URL('../tests/fixtures/notebooks/', import.meta.url).pathname;
function nb(cells, metadata = {}) {
  return JSON.stringify({
    nbformat: 4, nbformat_minor: 5,
    metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' }, language_info: { name: 'python' }, ...metadata },
    cells: cells.map((c, i) => {
      const [type, tags, src] = typeof c === 'string' ? ['code', [], c] : c.md ? ['markdown', [], c.md] : ['code', c.tags ?? [], c.src];
      const lines = src.split('\n').map((l, j, a) => (j < a.length - 1 ? l + '\n' : l));
      return type === 'code'
        ? { cell_type: 'code', id: `c${i}`, metadata: tags.length ? { tags } : {}, execution_count: null, outputs: [], source: lines }
        : { cell_type: 'markdown', id: `c${i}`, metadata: {}, source: lines };
    })
  }, null, 1) + '\n';
}
// 1. Tabular flow: load -> preprocess -> 3 parallel models -> results
writeFileSync(dir + 'tabular.ipynb', nb([
  { md: '# Customer churn\nPredict which customers leave.' },
  { tags: ['imports'], src: 'import numpy as np\nimport pandas as pd\nfrom sklearn.linear_model import LogisticRegression\nfrom sklearn.ensemble import RandomForestClassifier, GradientBoostingClassifier\nfrom sklearn.model_selection import train_test_split\nfrom sklearn.metrics import accuracy_score' },
  { tags: ['pipeline-parameters'], src: 'TEST_SIZE = 0.25\nSEED = 42\nN_TREES = 100' },
  { tags: ['step:load_data'], src: 'df = pd.read_csv("data/churn.csv")\ndf.head()' },
  'print(df.shape)',
  { tags: ['step:preprocess', 'prev:load_data'], src: 'df.dropna(inplace=True)\ndf["tenure_years"] = df["tenure"] / 12\nX = df.drop(columns=["churn"]).values\ny = df["churn"].values' },
  'X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=TEST_SIZE, random_state=SEED)',
  { tags: ['step:train_logreg', 'prev:preprocess', 'limit:cpu:1'], src: 'logreg = LogisticRegression(max_iter=500)\nlogreg.fit(X_train, y_train)\nacc_logreg = accuracy_score(y_test, logreg.predict(X_test))' },
  { tags: ['step:train_forest', 'prev:preprocess', 'limit:memory:2Gi'], src: 'forest = RandomForestClassifier(n_estimators=N_TREES, random_state=SEED)\nforest.fit(X_train, y_train)\nacc_forest = accuracy_score(y_test, forest.predict(X_test))' },
  { tags: ['skip'], src: 'forest.feature_importances_  # exploration only' },
  { tags: ['step:train_gbm', 'prev:preprocess'], src: 'gbm = GradientBoostingClassifier(random_state=SEED)\ngbm.fit(X_train, y_train)\nacc_gbm = accuracy_score(y_test, gbm.predict(X_test))' },
  { tags: ['step:results', 'prev:train_logreg', 'prev:train_forest', 'prev:train_gbm'], src: 'scores = {"logreg": acc_logreg, "forest": acc_forest, "gbm": acc_gbm}\nbest_model = max(scores, key=scores.get)\nbest_accuracy = scores[best_model]\nprint(best_model, best_accuracy)' },
  { tags: ['pipeline-metrics'], src: 'print(best_accuracy)\nprint(acc_logreg)' },
], { kubeflow_notebook: { pipeline_name: 'churn', experiment_name: 'churn-exp', docker_image: 'python:3.11', volumes: [] } }));

// 2. Training flow with mutation, del, read-only use, function with free variables
writeFileSync(dir + 'training.ipynb', nb([
  { tags: ['imports'], src: 'import numpy as np' },
  { tags: ['functions'], src: 'def normalize(a):\n    return (a - MEAN) / STD\n\ndef log(msg):\n    history.append(msg)' },
  { tags: ['pipeline-parameters'], src: 'EPOCHS = 3\nLR = 0.1\nRUN_NAME = "baseline"' },
  { tags: ['step:make_data'], src: 'rng = np.random.default_rng(0)\nraw = rng.normal(size=(200, 4))\nMEAN = raw.mean(axis=0)\nSTD = raw.std(axis=0)\nhistory = []\ntmp = raw * 2\ndel tmp' },
  { tags: ['step:normalize_data'], src: 'data = normalize(raw)\nlog("normalized")' },
  { tags: ['step:inspect'], src: 'print(data.shape, data.mean())\nsummary = data.describe() if hasattr(data, "describe") else None' },
  { tags: ['step:train'], src: 'weights = np.zeros(4)\nfor epoch in range(EPOCHS):\n    grad = data.mean(axis=0) - weights\n    weights += LR * grad\nlog(f"trained {RUN_NAME}")' },
  { tags: ['step:report'], src: 'final_loss = float(np.abs(data.mean(axis=0) - weights).sum())\nprint(history, final_loss)' },
  { tags: ['pipeline-metrics'], src: 'print(final_loss)' },
]));

// 3. Magics and shell lines
writeFileSync(dir + 'magics.ipynb', nb([
  { tags: ['imports'], src: '%matplotlib inline\nimport os\nimport json' },
  { tags: ['step:fetch'], src: '!mkdir -p out\nfiles = !ls\n%time counts = {f: len(f) for f in files}\nos.environ.get?' },
  { tags: ['step:shell_only'], src: '%%bash\necho "total=$total" > out/x.txt' },
  { tags: ['step:timed'], src: '%%time\ntotal = sum(counts.values())\nlabels = sorted(counts)' },
  { tags: ['step:save'], src: '%env MODE=fast\nwith open("out/summary.json", "w") as fh:\n    json.dump({"total": total, "labels": labels}, fh)\n%ls out' },
]));

// 4. Functions and classes
writeFileSync(dir + 'classes.ipynb', nb([
  { tags: ['imports'], src: 'import math' },
  { tags: ['functions'], src: 'class Scaler:\n    def __init__(self, factor):\n        self.factor = factor\n    def apply(self, xs):\n        return [x * self.factor * BASE for x in xs]\n\ndef squared(xs):\n    return [x ** 2 for x in xs]\n\nREGISTRY = {}\n\ndef register(f):\n    REGISTRY[f.__name__] = f\n    return f\n\n@register\ndef registered(x):\n    return math.sqrt(x)' },
  { tags: ['step:setup'], src: 'BASE = 10\nvalues = [1, 2, 3]' },
  { tags: ['step:scale'], src: 'scaler = Scaler(2)\nscaled = scaler.apply(values)' },
  { tags: ['step:square'], src: 'sq = squared(values)\nlam = lambda v: v + offset if False else v\n' },
  { tags: ['step:combine'], src: 'class Result:\n    def __init__(self, a, b):\n        self.total = sum(a) + sum(b)\nresult = Result(scaled, sq)\nroots = [registered(v) for v in sq]\nprint(result.total, roots)' },
]));

// 5. Untagged notebook with headings
writeFileSync(dir + 'untagged.ipynb', nb([
  { md: '# Sales forecast\nA quick analysis.' },
  'import pandas as pd\nimport numpy as np',
  { md: '## Load the data' },
  'sales = pd.DataFrame({"month": range(24), "units": np.arange(24) * 3 + 5})',
  { md: '## Notes\nNothing to run here.' },
  { md: '## Features' },
  'sales["lag1"] = sales["units"].shift(1)\nsales = sales.dropna()',
  { md: '## Model A: mean' },
  'pred_mean = sales["units"].mean()',
  { md: '## Model B: trend' },
  'slope = np.polyfit(sales["month"], sales["units"], 1)[0]',
  { md: '## Compare' },
  'print(pred_mean, slope)',
]));

// 6. Written by Kale's UI: block: tags, kubeflow_notebook metadata with volumes, steps_defaults, prev chain
writeFileSync(dir + 'kale-ui.ipynb', nb([
  { tags: ['imports'], src: 'import numpy as np\nimport pandas as pd' },
  { tags: ['pipeline-parameters'], src: 'DATA_PATH = "data.csv"\nSAMPLES = 1000' },
  { tags: ['block:dataprocessing'], src: 'x = np.random.rand(SAMPLES)\ny = 2 * x + 1' },
  { tags: ['block:train', 'prev:dataprocessing', 'limit:nvidia.com/gpu:1', 'annotation:sidecar.istio.io/inject:false'], src: 'coef = np.polyfit(x, y, 1)' },
  { tags: ['block:evaluate', 'prev:train'], src: 'err = float(np.abs(np.polyval(coef, x) - y).max())' },
  { tags: ['pipeline-metrics'], src: 'print(err)' },
], {
  kubeflow_notebook: {
    autosnapshot: true, docker_image: 'gcr.io/arrikto/jupyter-kale-py36:latest', experiment: { id: 'new', name: 'kale-exp' },
    experiment_name: 'kale-exp', katib_metadata: { algorithm: { algorithmName: 'grid' }, maxFailedTrialCount: 3, maxTrialCount: 12, objective: { objectiveMetricName: '', type: 'minimize' }, parallelTrialCount: 3, parameters: [] },
    katib_run: false, pipeline_description: 'Linear fit', pipeline_name: 'linear-fit', snapshot_volumes: true,
    steps_defaults: ['label:access-ml-pipeline:true', 'label:access-rok:true'],
    volumes: [{ annotations: [], mount_point: '/home/jovyan', name: 'workspace-linear-fit-abc12', size: 5, size_type: 'Gi', snapshot: false, type: 'pvc' }]
  }
}));

// 7. Classes, functions and closures defined in steps (no functions cell): they travel by value
writeFileSync(dir + 'step-classes.ipynb', nb([
  { tags: ['step:count'], src: 'class Acc:\n    def __init__(self):\n        self.total = 0\n\n    def add(self, v):\n        self.total += v\n        return self\n\nacc = Acc().add(2).add(3)' },
  { tags: ['step:helpers', 'prev:count'], src: 'OFFSET = 100\n\ndef shifted(v):\n    return v + OFFSET\n\ndef multiplier(k):\n    def times(v):\n        return v * k\n    return times\n\ndouble = multiplier(2)' },
  { tags: ['step:use', 'prev:helpers'], src: 'acc.add(5)\nprint(acc.total, shifted(acc.total), double(acc.total), type(acc).__name__)' },
]));
