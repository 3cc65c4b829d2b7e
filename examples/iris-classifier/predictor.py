"""Iris classifier: the glia quick-start predictor.

The model is trained when the replica starts, on the iris data set that
ships inside scikit-learn, so nothing is downloaded. predict() takes the four
measurements of a flower and returns the name of its species.
"""
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


class PythonPredictor:
    def __init__(self, config):
        iris = load_iris()
        if config.get("model", "logistic_regression") == "decision_tree":
            self.model = DecisionTreeClassifier(random_state=0)
        else:
            self.model = LogisticRegression(max_iter=1000)
        self.model.fit(iris.data, iris.target)
        self.labels = [str(name) for name in iris.target_names]
        accuracy = self.model.score(iris.data, iris.target)
        print(f"iris-classifier: trained {type(self.model).__name__}, "
              f"training accuracy {accuracy:.3f}", flush=True)

    def predict(self, payload):
        measurements = [float(payload[name]) for name in FEATURES]
        label_id = self.model.predict([measurements])[0]
        return self.labels[label_id]
