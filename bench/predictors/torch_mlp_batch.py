"""torch_mlp_batch: a PyTorch multilayer perceptron (256 -> 1024 -> 1024 ->
10, ReLU, about 1.3M multiply-adds per row) with fixed random weights, for
bench/batching.sh. Each request's payload is {"inputs": [[256 numbers],
...]}; its answer is {"outputs": [[10 scores], ...]}, one row per input row.

config {"batched": true}: the API has server_side_batching, so predict gets
the list of every request's payload; the rows of the whole batch are
stacked into one tensor, run through the model in one forward pass under
torch.no_grad(), and split back into one answer per request (same order).
Without it, predict runs one request's rows.

torch.set_num_threads(1) in both modes: the replica serves from one thread
either way (one batch at a time), and the 2-core machines the bench runs on
also run the gateway and wrk. It is set again on each thread that predicts:
glia calls __init__ and predict on different threads, and the OpenMP thread
count is per thread (torch.get_num_threads() still says 1 on a new thread,
but OpenMP runs 2 there; a single-row predict then took 25 ms instead of
1 ms here)."""
import threading

import torch

IN, HIDDEN, OUT = 256, 1024, 10


class PythonPredictor:
    def __init__(self, config):
        torch.set_num_threads(1)
        torch.manual_seed(0)
        self.batched = bool(config.get("batched", False))
        self.local = threading.local()
        self.model = torch.nn.Sequential(
            torch.nn.Linear(IN, HIDDEN), torch.nn.ReLU(),
            torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.ReLU(),
            torch.nn.Linear(HIDDEN, OUT),
        )
        self.model.eval()
        if torch.backends.mkldnn.is_available():
            # Debian's torch is built with BLAS_INFO=generic, a reference
            # GEMM under which 16 rows cost 16 times one row: run the
            # Linear layers through oneDNN instead, as a torch with MKL or
            # OpenBLAS would through its BLAS (to_mkldnn swaps them in place)
            from torch.utils import mkldnn
            self.model = mkldnn.to_mkldnn(self.model)

    def _forward(self, rows):
        if not getattr(self.local, "one_thread", False):
            torch.set_num_threads(1)
            self.local.one_thread = True
        x = torch.tensor(rows, dtype=torch.float32)
        with torch.no_grad():
            return self.model(x)

    def predict(self, payload):
        if not self.batched:
            return {"outputs": self._forward(payload["inputs"]).tolist()}
        rows, counts = [], []
        for p in payload:
            rows.extend(p["inputs"])
            counts.append(len(p["inputs"]))
        y = self._forward(rows).tolist()
        answers, at = [], 0
        for n in counts:
            answers.append({"outputs": y[at:at + n]})
            at += n
        return answers
