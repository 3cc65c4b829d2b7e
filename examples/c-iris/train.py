#!/usr/bin/python3
"""Trains the c-iris model and writes its weights as JSON for iris.c.

A multinomial logistic regression on scikit-learn's bundled iris data set
(nothing is downloaded), the same model as examples/iris-classifier. Its
prediction is argmax(coef . x + intercept), which iris.c computes.

Usage: /usr/bin/python3 train.py [OUT]   (OUT defaults to weights.json)
"""
import json
import sys

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "weights.json"
    iris = load_iris()
    model = LogisticRegression(max_iter=1000)
    model.fit(iris.data, iris.target)
    weights = {
        "features": FEATURES,
        "classes": [str(name) for name in iris.target_names],
        "coef": model.coef_.tolist(),
        "intercept": model.intercept_.tolist(),
    }
    with open(out, "w") as f:
        json.dump(weights, f, indent=1)
        f.write("\n")
    print(f"c-iris: wrote {out}, training accuracy "
          f"{model.score(iris.data, iris.target):.3f}")


if __name__ == "__main__":
    main()
