"""Arguments matched by name, not position: the class is `Predictor`,
__init__ takes nothing but self, predict takes (headers, payload) in the
reverse of the documented order."""


class Predictor:
    def __init__(self):
        self.ready = True

    def predict(self, headers, payload):
        rid = None
        for k, v in dict(headers).items():
            if k.lower() == "x-request-id":
                rid = v
        return {"payload": payload, "saw_request_id": rid is not None}
