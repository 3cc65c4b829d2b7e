"""Trains the models of this example into models/ (run with Debian's
/usr/bin/python3, which has scikit-learn):

    models/logreg/1/model.pkl   logistic regression, strong regularization
    models/logreg/2/model.pkl   logistic regression, weak regularization
    models/tree/1/model.pkl     a decision tree of depth 3

`python3 train.py --version N --model logreg` publishes one more version
the way a training pipeline should: written into a hidden directory, then
renamed into place in one step, so that glia never sees half a model.
"""
import argparse
import os
import pickle

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

HERE = os.path.dirname(os.path.abspath(__file__))


def build(kind, version):
    if kind == "tree":
        return DecisionTreeClassifier(max_depth=2 + version, random_state=0)
    return LogisticRegression(C=10.0 ** (version - 2), max_iter=1000)


def publish(models_dir, kind, version):
    iris = load_iris()
    model = build(kind, version).fit(iris.data, iris.target)
    model.glia_info = {"model": kind, "version": version}
    staging = os.path.join(models_dir, kind, ".incoming-%d" % version)
    os.makedirs(staging, exist_ok=True)
    with open(os.path.join(staging, "model.pkl"), "wb") as f:
        pickle.dump(model, f)
    os.rename(staging, os.path.join(models_dir, kind, str(version)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=os.path.join(HERE, "models"))
    ap.add_argument("--model", choices=("logreg", "tree"))
    ap.add_argument("--version", type=int)
    args = ap.parse_args()
    if args.model and args.version:
        publish(args.models, args.model, args.version)
        return
    for kind, version in (("logreg", 1), ("logreg", 2), ("tree", 1)):
        if not os.path.isdir(os.path.join(args.models, kind, str(version))):
            publish(args.models, kind, version)


if __name__ == "__main__":
    main()
