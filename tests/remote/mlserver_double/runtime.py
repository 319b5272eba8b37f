"""The custom MLServer runtime of the model "double" (tests/remote/mlserver_double/model-settings.json):
input "x", FP32 [-1, 4]; output "y" = 2 * x, FP32 [-1, 4]. numpy only. Served by
tests/remote/serve_mlserver.py (or `mlserver start tests/remote/mlserver_double`)."""
import numpy as np
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.errors import InferenceError
from mlserver.types import InferenceRequest, InferenceResponse, ResponseOutput


class DoubleModel(MLModel):
    async def load(self) -> bool:
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        inputs = {tensor.name: tensor for tensor in payload.inputs}
        if set(inputs) != {"x"}:
            raise InferenceError(f"model double takes exactly one input, x; got {sorted(inputs)}")
        x = inputs["x"]
        if x.datatype != "FP32":
            raise InferenceError(f"input x must be FP32, not {x.datatype}")
        if len(x.shape) != 2 or x.shape[1] != 4 or x.shape[0] < 0:
            raise InferenceError(f"input x must have shape [N, 4], not {x.shape}")
        try:
            values = NumpyCodec.decode_input(x)  # float32, reshaped to x.shape
        except ValueError as error:  # data that does not fill the shape
            raise InferenceError(f"input x: {error}") from error
        y = (2 * values).astype(np.float32)
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            id=payload.id,
            outputs=[ResponseOutput(name="y", datatype="FP32", shape=list(y.shape), data=y.ravel().tolist())],
        )
