"""torch_mlp: a small PyTorch multilayer perceptron (4 -> 64 -> 64 -> 3)
with fixed random weights, for bench/model.sh. predict() runs the rows of
payload["inputs"] (a list of 4-number lists) through it and returns the
class scores, one list of 3 numbers per row."""
import torch


class PythonPredictor:
    def __init__(self, config):
        # one intra-op thread: every contender serves from one thread, and
        # torch's own pool would otherwise take every CPU for a tiny model
        torch.set_num_threads(1)
        torch.manual_seed(0)
        self.model = torch.nn.Sequential(
            torch.nn.Linear(4, 64), torch.nn.ReLU(),
            torch.nn.Linear(64, 64), torch.nn.ReLU(),
            torch.nn.Linear(64, 3),
        )
        self.model.eval()

    def predict(self, payload):
        x = torch.tensor(payload["inputs"], dtype=torch.float32)
        with torch.no_grad():
            y = self.model(x)
        return {"outputs": y.tolist()}
