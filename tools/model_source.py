"""A TensorFlow model (SavedModel signature or frozen GraphDef) as the compilers see it: its inputs
and outputs named as hepinfer's TensorFlow backend names them, checked for what XLA can compile,
and frozen at one static batch size. Shared by compile_xla.py (PJRT artifacts) and compile_aot.py
(ahead-of-time packages).

The model is a SavedModel directory (one signature; saved_model.pb, or .pbtxt) or a frozen GraphDef
file (binary, or text if named .pbtxt, as the TF backend reads them; its placeholders
are the inputs, its unconsumed nodes the outputs). Frozen graphs with TF1 loops (Enter/Exit, e.g.
a frozen LSTM) cannot be traced for XLA as functions; tools/tf1_control_flow.py hands them to
tf2xla as graphs, which turns the loops into XLA's while loops (`tf1_loops` names them).

XLA compiles static shapes. A signature that leaves a dimension other than the batch unknown (a
variable-length particle list, [None, None, 8]) is compiled at the dimensions the caller fixes
(--input-shape particles=100,8); runs then take exactly those. A signature that fixes the batch
too ([1, 16]) compiles at that batch alone; the backends split larger runs into it.

The backends pad a run up to a compiled batch size and split it over the largest, which is only
faithful when each row's outputs depend on that row alone. check_rows_independent refuses models
whose rows mix (statistics over the batch) before anything is compiled.
"""
import hashlib
import math
import re
from pathlib import Path

# The element types hepinfer tensors hold (core/dtype.h).
DTYPES = {"float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "bool"}
DEFAULT_BATCH_SIZES = [1, 8, 64]
# Weight layouts of compiled programs: constants baked into each program, or parameters fed from one
# file (a SavedModel's variables; a frozen graph's large floating constants, turned into variables).
# "auto" feeds them above WEIGHTS_AS_PARAMETERS_ABOVE bytes, the TF backend's freeze limit
# (LoadOptions::freeze_limit_bytes): freezing costs ~13 times the frozen bytes at its peak, and a
# tensor over 2 GB cannot be a constant at all.
WEIGHT_LAYOUTS = ("auto", "baked", "parameters")
WEIGHTS_AS_PARAMETERS_ABOVE = 64 * 1024 * 1024
# A frozen graph's constants fed as parameters: float16, float32 and float64 ones whose value takes
# at least this many bytes in the graph (1024 float32 values; a constant written as one repeated
# value takes a few bytes and stays). Smaller ones (biases, scalars), integer ones (shapes, axes,
# which XLA needs at compile time) and those with control dependencies either way stay constants.
GRAPH_WEIGHT_MIN_BYTES = 4096
# TF1 loop ops: XLA compiles functional While, not these.
TF1_LOOP_OPS = {"Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond", "RefEnter", "RefExit"}
# Stateful ops XLA has no kernels for, found before freezing (which cannot take them either).
NOT_COMPILABLE = {"HashTableV2", "MutableHashTableV2", "MutableHashTableOfTensorsV2", "LookupTableFindV2",
                  "LookupTableImportV2", "LookupTableInsertV2", "LookupTableSizeV2", "InitializeTableV2",
                  "InitializeTableFromTextFileV2"}
# Ops that write variables: a compiled program holds the weights as constants and keeps no state.
VARIABLE_WRITES = {"AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp", "Assign", "AssignAdd", "AssignSub",
                   "ResourceScatterUpdate", "ResourceScatterAdd", "ResourceScatterSub"}
# TF1's reference variables: SavedModels holding them are frozen in a v1 session.
REFERENCE_VARIABLES = {"VariableV2", "Variable"}
# Variables, which a frozen graph has turned into constants (the TF backend refuses them alike).
FROZEN_GRAPH_VARIABLES = {"VariableV2", "Variable", "VarHandleOp"}
# Unconsumed nodes that are not results (as the TF backend's frozen-graph signature counts them).
NOT_RESULTS = {"Placeholder", "PlaceholderWithDefault", "Const", "NoOp", "Assert", "VarHandleOp", "VariableV2",
               "Variable", "SaveV2", "RestoreV2", "Print", "PrintV2"}


class CompileError(Exception):
    """A model a compiler cannot take; the message says why."""


def fail(message):
    raise CompileError(message)


def parse_batch_sizes(text):
    """"1,8,64" as [1, 8, 64]; CompileError for anything else."""
    try:
        sizes = [int(size) for size in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        fail(f"--batch-sizes '{text}': expected positive integers separated by commas")
    return sizes


def parse_input_shapes(assignments):
    """["particles=100,8", ...] as {"particles": [100, 8]}: each input's dimensions after the batch."""
    shapes = {}
    for assignment in assignments or []:
        name, separator, dims = assignment.partition("=")
        try:
            shape = [int(dim) for dim in dims.split(",")] if dims else []
        except ValueError:
            shape = None
        if not name or not separator or shape is None or any(dim < 0 for dim in shape):
            fail(f"--input-shape '{assignment}': expected NAME=D1,D2,... (the dimensions after the batch, "
                 "e.g. particles=100,8)")
        if name in shapes:
            fail(f"--input-shape names input '{name}' twice")
        shapes[name] = shape
    return shapes


def model_hash(path):
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with open(file, "rb") as stream:  # in pieces: a model's variables may be gigabytes
            while piece := stream.read(1 << 24):
                digest.update(piece)
    return digest.hexdigest()


# Lines of TF's messages that say where, not what: a traceback's, and a run's preamble ("Graph
# execution error:", "Detected at node N defined at (most recent call last):").
_WHERE_NOT_WHAT = re.compile(r"in user code:|File .*|Graph execution error:|Detected at node .*|<stack traces unavailable>")


def first_informative_line(error):
    """TF's messages for XLA failures may start with "in user code:" and a traceback, and those of a
    failed run with "Graph execution error:" and where the failing node was defined."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if not _WHERE_NOT_WHAT.fullmatch(line):
            return line
    return lines[0] if lines else type(error).__name__


# TF's message for ops XLA has no kernel for lists each as "OP (No registered 'OP' OpKernel for
# XLA_CPU_JIT devices compatible with node {{function_node F}}{{node NODE}})", then repeats the nodes.
_UNSUPPORTED_OPS = re.compile(r"Detected unsupported operations when trying to compile graph .*? on XLA_\w+: ")
_UNSUPPORTED_OP = re.compile(r"(\w+) \(No registered '\1' OpKernel for XLA_\w+ devices compatible with node "
                             r"(?:\{\{function_node [^}]*\}\})?\{\{node ([^}]+)\}\}")
# The call wrappers tracing puts around a SavedModel's function body, which no user named.
_CALL_WRAPPERS = re.compile(r"\b(?:(?:Stateful)?PartitionedCall(?:_\d+)?/)+")
# What XLA's ahead-of-time code generator (tfcompile's thunks) cannot emit although XLA compiles it.
_NOT_AHEAD_OF_TIME = re.compile(r"Unsupported thunk type|convolution is not implemented")


def xla_failure_reason(error, ahead_of_time=False):
    """Why XLA could not compile a model, in one line: the ops it has no kernel for, each with a node
    that uses it, or what the ahead-of-time code generator lacks and where the model runs instead;
    else TF's first informative line."""
    line = first_informative_line(error).removeprefix("Failed getting HLO text: '")
    line = _CALL_WRAPPERS.sub("", line)
    if _UNSUPPORTED_OPS.search(line):
        nodes = {}
        for op, node in _UNSUPPORTED_OP.findall(line):
            nodes.setdefault(op, node)
        if nodes:
            named = ", ".join(f"{op} (node '{node}')" for op, node in nodes.items())
            return f"XLA has no kernel for {named}; run the model on the TensorFlow backend"
    if ahead_of_time and _NOT_AHEAD_OF_TIME.search(line):
        return (f"{line.rstrip('.')}: XLA's ahead-of-time code generator lacks what the model needs; "
                "compile it with --target pjrt for the XLA backend, or run it on the TensorFlow backend")
    return line


def _node_name(tensor_name):
    return tensor_name.lstrip("^").split(":")[0]


def _all_nodes(graph_def):
    """Every node of `graph_def` and of its function library."""
    nodes = list(graph_def.node)
    for function in graph_def.library.function:
        nodes.extend(function.node_def)
    return nodes


def _split_top_level(text):
    """`text` split at the commas outside <...>, (...) and [...]."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        if char in "<([":
            depth += 1
        elif char in ">)]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return [part for part in parts if part]


def main_result_dims(stablehlo_text):
    """The dimensions ("2x?x4") of each result of a StableHLO module's main function, in order; a
    "?" is a dimension XLA only bounds (its length depends on the input values)."""
    line = next((line for line in stablehlo_text.splitlines() if re.search(r"func\.func (public )?@main\(", line)), "")
    header = line[:line.rfind("{")].strip()
    arguments_end, depth = None, 0
    for index, char in enumerate(header):  # the ')' closing main's argument list
        depth += char == "("
        depth -= char == ")"
        if char == ")" and depth == 0:
            arguments_end = index
            break
    if arguments_end is None or "->" not in header[arguments_end:]:
        return []
    results = header[header.index("->", arguments_end) + 2:].strip()
    if results.startswith("(") and results.endswith(")"):
        results = results[1:-1]
    dims = []
    for result in _split_top_level(results):
        match = re.match(r"tensor<([^,>]*)", result)
        dims.append(match.group(1).rsplit("x", 1)[0] if match and "x" in match.group(1) else "")
    return dims


# StableHLO's element types by the dtype names manifests use.
_STABLEHLO_DTYPES = {"f16": "float16", "bf16": "bfloat16", "f32": "float32", "f64": "float64", "i1": "bool",
                     "i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64", "ui8": "uint8", "ui16": "uint16",
                     "ui32": "uint32", "ui64": "uint64"}


def main_argument_types(stablehlo_text):
    """[(dtype name, [dims])] of each parameter of a StableHLO module's main function, in order."""
    line = next((line for line in stablehlo_text.splitlines() if re.search(r"func\.func (public )?@main\(", line)), "")
    types = []
    for element in re.findall(r"%arg\d+: tensor<([^,>]*)", line[:line.find(") ->")]):
        parts = element.split("x")
        types.append((_STABLEHLO_DTYPES.get(parts[-1], parts[-1]),
                      [int(dim) if dim.isdigit() else dim for dim in parts[:-1]]))
    return types


def check_output_dtype(key, dtype, backend):
    if dtype not in DTYPES:
        hint = " (Keras' mixed_bfloat16 policy: give the last layer dtype='float32')" if dtype == "bfloat16" else ""
        fail(f"output '{key}' has dtype {dtype}{hint}; the {backend} backend returns {sorted(DTYPES)}")


class ModelSource:
    """One signature of a model: `input_names`/`output_names` in sorted order (the compiled
    programs' parameter and result order), `call(named_tensors) -> {output: tensor}`."""

    def __init__(self, model, signature="serving_default", input_shapes=None):
        import tensorflow as tf
        self.tf = tf
        self.path = Path(model)
        if not self.path.exists():
            fail(f"'{self.path}' does not exist")
        self.saved_model = any((self.path / name).is_file() for name in ("saved_model.pb", "saved_model.pbtxt"))
        self.tf1_loops = []  # the TF1 loop ops of a frozen graph, which only tf1_control_flow.py compiles
        self.graph_def = None  # a frozen graph's GraphDef, as read (or as a TF1 SavedModel froze)
        # With graph_def: the graph's tensor ("node:index") of each input, and of each output.
        self.input_tensors, self.output_tensors = {}, {}
        self._index_ranges = None  # index_ranges(), found once
        # Set by choose_weight_layout: traced_function() keeps the variables as parameters.
        self.weights_as_parameters = False
        self._graph_variables = {}  # a frozen graph's constants made variables, by node name
        self._pending_bind = None  # (graph_def, inputs, outputs) of a frozen graph not yet bound
        self._input_shapes = input_shapes or {}  # --input-shape, applied again when the graph is bound again
        if self.path.is_dir() and not self.saved_model:
            fail(f"'{self.path}' is a directory without saved_model.pb: expected a SavedModel or a frozen GraphDef file")
        if self.saved_model:
            self.signature = signature
            meta_graph = self._serving_meta_graph()
            if any(node.op in REFERENCE_VARIABLES for node in meta_graph.graph_def.node):
                self._open_tf1_saved_model(meta_graph)
                graph_def = self.graph_def
            else:
                self._open_saved_model()
                graph_def = self._traced_graph_def()
        else:
            self.signature = "serving_default"  # a frozen graph's one signature
            self._open_frozen_graph()
            graph_def = self.graph_def
        self._fix_input_shapes(input_shapes or {})
        self.variable_writes = sorted({node.op for node in _all_nodes(graph_def) if node.op in VARIABLE_WRITES})
        uncompilable = sorted({node.op for node in _all_nodes(graph_def) if node.op in NOT_COMPILABLE})
        if uncompilable:
            fail(f"'{self.path}' uses {', '.join(uncompilable)} (lookup tables), which XLA cannot compile; "
                 "run it on the TensorFlow backend")
        self.input_names = sorted(self.input_specs)

    def _fix_input_shapes(self, input_shapes):
        """Fills the unknown dimensions after the batch from `input_shapes` ({name: dims}); a
        dimension the model knows must be given as it is."""
        tf = self.tf
        for name, dims in input_shapes.items():
            if name not in self.input_specs:
                fail(f"--input-shape names '{name}', which is not an input of '{self.path}' "
                     f"(inputs: {', '.join(sorted(self.input_specs))})")
            spec = self.input_specs[name]
            declared = spec.shape.as_list() if spec.shape.rank is not None else [None] * (len(dims) + 1)
            if len(declared) != len(dims) + 1 or any(known is not None and known != given
                                                     for known, given in zip(declared[1:], dims)):
                fail(f"--input-shape {name}={','.join(map(str, dims))} does not fit input '{name}' of shape "
                     f"{tf.TensorShape(declared)} (give the dimensions after the batch; known ones as they are)")
            self.input_specs[name] = tf.TensorSpec([declared[0]] + dims, spec.dtype, name=spec.name)

    def _open_saved_model(self):
        loaded = self.tf.saved_model.load(str(self.path))
        if self.signature not in loaded.signatures:
            if not loaded.signatures:
                fail(f"SavedModel '{self.path}' has no signatures, so nothing says what to feed and fetch; save it "
                     "with one: tf.saved_model.save(model, DIR, signatures={'serving_default': function}), or "
                     "Keras' model.export(DIR)")
            fail(f"'{self.path}' has no signature '{self.signature}' (it has {sorted(loaded.signatures)})")
        function = loaded.signatures[self.signature]
        self._refuse_composite_inputs(sorted(spec.name or argument for argument, spec
                                             in function.structured_input_signature[1].items()))
        # The signature's keys are its TensorSpecs' names ("jet.pt"), which the TF backend and
        # SignatureDef use; tf.function binds the same tensors by argument names it sanitizes ("jet_pt").
        argument_of = {(spec.name or argument): argument
                       for argument, spec in function.structured_input_signature[1].items()}
        self.input_specs = {key: function.structured_input_signature[1][argument]
                            for key, argument in argument_of.items()}
        self.output_names = sorted(function.structured_outputs)

        def call(named):
            result = function(**{argument_of[key]: tensor for key, tensor in named.items()})
            return {key: result[key] for key in self.output_names}

        self.call = call
        self._keep_alive = loaded  # the variables live as long as the function

    def _refuse_composite_inputs(self, inputs):
        """Fails for a signature whose function takes a ragged or sparse tensor: the signature feeds it
        as several dense tensors (values and row splits, or indices, values and shape), whose first
        dimensions are not the batch's, and no padding or splitting of them is faithful."""
        from tensorflow.core.protobuf import struct_pb2
        composite = {struct_pb2.TypeSpecProto.RAGGED_TENSOR_SPEC: "ragged tensor",
                     struct_pb2.TypeSpecProto.SPARSE_TENSOR_SPEC: "sparse tensor"}
        meta_graph = self._serving_meta_graph()
        objects = meta_graph.object_graph_def
        functions = objects.concrete_functions

        def child(node_id, name):
            if node_id >= len(objects.nodes):  # TF1 SavedModels have no object graph
                return None
            return next((ref.node_id for ref in objects.nodes[node_id].children if ref.local_name == name), None)

        # The signature is a wrapper function, saved under the root's "signatures"; it calls the function
        # that was given as the signature, whose own input signature keeps the ragged or sparse specs.
        signatures = child(0, "signatures")
        wrapper_node = child(signatures, self.signature) if signatures is not None else None
        if wrapper_node is None:
            return
        wrapper = objects.nodes[wrapper_node].bare_concrete_function.concrete_function_name
        body = next((f for f in meta_graph.graph_def.library.function if f.signature.name == wrapper), None)
        called = {node.attr["f"].func.name for node in (body.node_def if body is not None else [])
                  if node.op in ("PartitionedCall", "StatefulPartitionedCall")}

        def composites(value):
            kind = value.WhichOneof("kind")
            if kind == "type_spec_value" and value.type_spec_value.type_spec_class in composite:
                yield composite[value.type_spec_value.type_spec_class]
            elif kind in ("list_value", "tuple_value"):
                for item in getattr(value, kind).values:
                    yield from composites(item)
            elif kind == "dict_value":
                for _, item in sorted(value.dict_value.fields.items()):
                    yield from composites(item)
            elif kind == "named_tuple_value":
                for pair in value.named_tuple_value.values:
                    yield from composites(pair.value)

        for name in sorted(called):
            if name in functions:
                for kind in composites(functions[name].canonicalized_input_signature):
                    fail(f"the signature's function takes a {kind}, which the signature feeds as several tensors "
                         f"(its inputs {', '.join(inputs)}: values, row splits or indices) whose first dimensions are "
                         "not the batch's, and XLA compiles dense tensors of fixed shapes: export a signature taking "
                         "a padded dense tensor (with a mask or the lengths beside it), or run the model on the "
                         "TensorFlow backend")

    def _serving_meta_graph(self):
        """The SavedModel's MetaGraph tagged "serve" (the TF backend's default tags)."""
        from google.protobuf import text_format
        from tensorflow.core.protobuf import saved_model_pb2
        saved = saved_model_pb2.SavedModel()
        binary = self.path / "saved_model.pb"
        try:
            if binary.is_file():
                saved.ParseFromString(binary.read_bytes())
            else:
                text_format.Parse((self.path / "saved_model.pbtxt").read_text(), saved)
        except Exception as error:
            fail(f"'{self.path}' is not a readable SavedModel: {first_informative_line(error)}")
        meta_graph = next((meta for meta in saved.meta_graphs if "serve" in meta.meta_info_def.tags), None)
        if meta_graph is None:
            fail(f"SavedModel '{self.path}' has no MetaGraph tagged 'serve'")
        return meta_graph

    def _open_tf1_saved_model(self, meta_graph):
        """A TF1 SavedModel with reference variables (VariableV2), as TF 1.x wrote them: the v2 loader
        keeps them as ops XLA has no kernels for, and convert_variables_to_constants_v2 folds only
        resource variables. So it is frozen as TF 1.x froze graphs, in a session restored from its
        checkpoint, to what the signature's outputs need; the result is compiled as a frozen graph
        whose inputs and outputs the signature names."""
        tf = self.tf
        v1 = tf.compat.v1
        if self.signature not in meta_graph.signature_def:
            fail(f"'{self.path}' has no signature '{self.signature}' "
                 f"(it has {sorted(key for key in meta_graph.signature_def if not key.startswith('__'))})")
        signature = meta_graph.signature_def[self.signature]
        inputs = {key: info.name for key, info in signature.inputs.items()}
        outputs = {key: info.name for key, info in signature.outputs.items()}
        graph = tf.Graph()
        with graph.as_default(), v1.Session(graph=graph) as session:
            try:
                v1.saved_model.loader.load(session, list(meta_graph.meta_info_def.tags), str(self.path))
                graph_def = v1.graph_util.convert_variables_to_constants(
                    session, graph.as_graph_def(), sorted({_node_name(name) for name in outputs.values()}))
            except Exception as error:
                fail(f"TF1 SavedModel '{self.path}' could not be frozen: {first_informative_line(error)}")
        self.tf1_loops = sorted({node.op for node in graph_def.node if node.op in TF1_LOOP_OPS})
        self.graph_def = graph_def
        self._bind_graph(graph_def, inputs, outputs)

    def _open_frozen_graph(self):
        tf = self.tf
        graph_def = tf.compat.v1.GraphDef()
        text = self.path.suffix == ".pbtxt"  # as the TF backend reads it
        try:
            if text:
                from google.protobuf import text_format
                text_format.Parse(self.path.read_text(), graph_def)
            else:
                graph_def.ParseFromString(self.path.read_bytes())
        except Exception as error:
            fail(f"'{self.path}' is neither a SavedModel directory nor a {'text' if text else 'binary'} GraphDef "
                 f"file: {first_informative_line(error)}")
        variable = next((node for node in graph_def.node if node.op in FROZEN_GRAPH_VARIABLES), None)
        if variable is not None:
            fail(f"'{self.path}' is not a frozen graph: node '{variable.name}' is a {variable.op}; "
                 "freeze it with convert_variables_to_constants first")
        self.tf1_loops = sorted({node.op for node in graph_def.node if node.op in TF1_LOOP_OPS})
        self.graph_def = graph_def
        nodes = {node.name: node for node in graph_def.node}
        consumed = {_node_name(name) for node in graph_def.node for name in node.input}
        output_names = sorted(node.name for node in graph_def.node
                              if node.name not in consumed and node.op not in NOT_RESULTS)
        if not output_names:
            fail(f"frozen graph '{self.path}' has no output node")
        needed, pending = set(output_names), list(output_names)
        while pending:
            node = nodes.get(pending.pop())
            for name in node.input if node is not None else []:
                if _node_name(name) not in needed:
                    needed.add(_node_name(name))
                    pending.append(_node_name(name))
        input_names = sorted(node.name for node in graph_def.node if node.op == "Placeholder" and node.name in needed)
        inputs = {name: f"{name}:0" for name in input_names}
        outputs = {name: f"{name}:0" for name in output_names}
        untyped = [name for name in input_names if "dtype" not in nodes[name].attr]
        if untyped:
            fail(f"'{self.path}' is a GraphDef TensorFlow cannot import: placeholder '{untyped[0]}' has no dtype")
        self.input_specs = {name: tf.TensorSpec(tf.TensorShape(nodes[name].attr["shape"].shape
                                                               if "shape" in nodes[name].attr else None),
                                                tf.as_dtype(nodes[name].attr["dtype"].type), name=name)
                            for name in input_names}
        self.output_names = output_names
        self.input_tensors, self.output_tensors = inputs, outputs

        # Bound when first needed, not here: importing a graph's constants takes seconds per hundred MB,
        # and with --weights parameters the graph is bound with its large constants as variables instead.
        self._pending_bind = (graph_def, inputs, outputs)

        def bind_and_call(named):
            self._bind_if_pending()
            return self.call(named)

        self.call = bind_and_call

    def _bind_if_pending(self):
        """Binds a frozen graph opened but not yet bound. Outside any tf.function: an import error
        raised while tracing would come back wrapped in AutoGraph's traceback."""
        if self._pending_bind is None:
            return
        graph_def, inputs, outputs = self._pending_bind
        self._pending_bind = None
        specs = self.input_specs  # as --input-shape fixed them
        self._bind_graph(graph_def, inputs, outputs)
        self.input_specs = specs

    def _bind_graph(self, graph_def, inputs, outputs, weights=None):
        """Makes the frozen `graph_def` this source's model: `inputs` and `outputs` map the names
        runs use to the graph's tensors ("node:index"), kept for tf2xla's graph path. `weights`
        ({constant node name: variable}) are read in place of those constants."""
        tf = self.tf

        def body():
            reads = {}
            if weights:
                with tf.name_scope("hepinfer_weights"):  # apart from the graph's own names
                    reads = {f"{name}:0": variable.read_value() for name, variable in weights.items()}
            tf.compat.v1.import_graph_def(graph_def, name="", input_map=reads)

        try:
            wrapped = tf.compat.v1.wrap_function(body, [])
        except Exception as error:  # a node's input missing, an op this TensorFlow does not have
            what = "holds a graph" if self.saved_model else "is a GraphDef"  # the TF backend's words
            fail(f"'{self.path}' {what} TensorFlow cannot import: {first_informative_line(error)}")
        graph = wrapped.graph
        input_names, output_names = sorted(inputs), sorted(outputs)
        try:
            pruned = wrapped.prune([graph.get_tensor_by_name(inputs[name]) for name in input_names],
                                   [graph.get_tensor_by_name(outputs[name]) for name in output_names])
        except Exception as error:
            fail(f"frozen graph '{self.path}' cannot be cut to its inputs and outputs: {str(error).splitlines()[0]}")
        self.input_specs = {name: tf.TensorSpec(graph.get_tensor_by_name(inputs[name]).shape,
                                                graph.get_tensor_by_name(inputs[name]).dtype, name=name)
                            for name in input_names}
        self.output_names = output_names
        self.input_tensors, self.output_tensors = inputs, outputs

        def call(named):
            results = pruned(*[named[name] for name in input_names])
            return dict(zip(output_names, results))

        self.call = call
        self._keep_alive = wrapped

    def _graph_weights(self):
        """The constants of a frozen graph that --weights parameters feeds (GRAPH_WEIGHT_MIN_BYTES): not
        bfloat16, which the backends do not feed, and without control dependencies, to or from
        them, which a variable read in their place would not keep (a TF1 loop's constants have one
        on the loop's frame)."""
        floating = {dtype.as_datatype_enum for dtype in (self.tf.float16, self.tf.float32, self.tf.float64)}
        controlled = {name[1:] for node in self.graph_def.node for name in node.input if name.startswith("^")}
        weights = []
        for node in self.graph_def.node:
            if (node.op == "Const" and node.attr["dtype"].type in floating and not node.input and
                    node.name not in controlled and node.attr["value"].tensor.ByteSize() >= GRAPH_WEIGHT_MIN_BYTES):
                weights.append(node)
        return weights

    def _bind_graph_weights_as_variables(self):
        """Binds the frozen graph again with its large floating constants (_graph_weights) turned into
        variables, which traced_function() then captures: placeholders in their place in the graph
        that is traced (so that graph and the variables do not hold them twice), their values in
        variables."""
        tf = self.tf
        constants = {node.name for node in self._graph_weights()}
        stripped = tf.compat.v1.GraphDef()
        stripped.versions.CopyFrom(self.graph_def.versions)
        stripped.library.CopyFrom(self.graph_def.library)
        weights = {}
        for node in self.graph_def.node:
            if node.name not in constants:
                stripped.node.add().CopyFrom(node)
                continue
            value = tf.make_ndarray(node.attr["value"].tensor)
            weights[node.name] = tf.Variable(value, name=node.name, trainable=False)
            del value
            placeholder = stripped.node.add(name=node.name, op="Placeholder", device=node.device)
            placeholder.attr["dtype"].CopyFrom(node.attr["dtype"])
            placeholder.attr["shape"].shape.CopyFrom(node.attr["value"].tensor.tensor_shape)
        self._pending_bind = None  # never with the constants
        self._bind_graph(stripped, self.input_tensors, self.output_tensors, weights)
        self._fix_input_shapes(self._input_shapes)  # binding read the graph's own shapes again
        self._graph_variables = weights

    def _traced_graph_def(self):
        """The graph (with its function library) of a SavedModel signature, traced once."""
        tf = self.tf
        self._bind_if_pending()
        names = sorted(self.input_specs)
        specs = [tf.TensorSpec(self.input_specs[name].shape, self.input_specs[name].dtype) for name in names]
        return tf.function(lambda *tensors: self.call(dict(zip(names, tensors)))).get_concrete_function(
            *specs).graph.as_graph_def()

    def per_call_inputs(self):
        """The inputs fed whole with every run rather than by rows: scalars (a threshold), and inputs
        whose first dimension the signature fixes while another input's is open (a table [3, 4] beside
        x [None, 4]). Programs take them at their own shape; the backends never pad or split them
        (core/per_call_inputs.h, the same rule)."""
        def open_batch(spec):
            return spec.shape.rank is None or (spec.shape.rank >= 1 and spec.shape.as_list()[0] is None)

        any_open = any(open_batch(spec) for spec in self.input_specs.values())
        return {name for name, spec in self.input_specs.items()
                if spec.shape.rank == 0 or (any_open and not open_batch(spec))}

    def fixed_batch(self):
        """The batch the signature fixes (an input of shape [1, 16] takes one row), or None."""
        per_call = self.per_call_inputs()
        fixed = {name: spec.shape.as_list()[0] for name, spec in self.input_specs.items()
                 if name not in per_call and spec.shape.rank and spec.shape.as_list()[0] is not None}
        if len(set(fixed.values())) > 1:
            fail("the inputs fix different batches "
                 f"({', '.join(f'{name}: {batch}' for name, batch in sorted(fixed.items()))})")
        return next(iter(fixed.values()), None)

    def batch_sizes(self, requested):
        """The batch sizes to compile: `requested` (None: the default, or the batch the signature
        fixes), checked against a fixed batch."""
        fixed = self.fixed_batch()
        if fixed is None:
            return sorted(set(requested or DEFAULT_BATCH_SIZES))
        if requested is not None and sorted(set(requested)) != [fixed]:
            name = next(name for name, spec in sorted(self.input_specs.items())
                        if spec.shape.rank and spec.shape.as_list()[0] == fixed)
            fail(f"input '{name}' has shape {self.input_specs[name].shape.as_list()}: its batch is fixed at "
                 f"{fixed}, so --batch-sizes can only be {fixed} (runs of other sizes are split or padded to it)")
        return [fixed]

    def check_outputs_compilable(self, backend):
        """Fails for outputs a compiled program cannot return as TF does: of a dtype the backends lack
        (strings), or whose shape depends on the input values (tf.boolean_mask, tf.where with one
        argument, tf.unique): XLA only bounds such a dimension, and its program returns the output at
        the bound, the rows beyond the real length unset. Checked on the program lowered at one
        batch size (frozen graphs with TF1 loops, which tf2xla lowers, are not)."""
        if self.tf1_loops:
            return
        tf = self.tf
        batch = self.fixed_batch() or 2
        frozen = self.traced_function(batch)
        for key, tensor in zip(self.output_names, frozen.outputs):
            check_output_dtype(key, tensor.dtype.name, backend)
        specs = self.batch_specs(batch)
        compiled = tf.function(lambda *tensors: frozen(*tensors), jit_compile=True, input_signature=specs)
        try:
            text = compiled.experimental_get_compiler_ir(*specs)(stage="stablehlo")
        except Exception:
            return  # what XLA cannot compile, each compiler reports in its own words
        for key, dims in zip(self.output_names, main_result_dims(text)):
            if "?" in dims.split("x"):
                fail(f"output '{key}' has a length that depends on the input values (XLA bounds it: {dims} "
                     f"at {batch} rows; tf.boolean_mask, tf.where with one argument, tf.unique do this), and a "
                     "compiled program returns it padded to the bound with unset values; return fixed shapes "
                     "(the padded rows and a mask), or run the model on the TensorFlow backend")

    def check_rows_independent(self, backend):
        """Fails if a row's outputs change when another row of its batch changes, or with the number
        of rows: the backend pads and splits batches, which would change such a model's results.
        Models whose outputs differ between two identical runs (random ops) cannot be checked and
        pass."""
        import numpy as np
        self.inputs_manifest(backend)  # fails first for dtypes and shapes this check could not feed
        self.check_outputs_compilable(backend)
        fixed = self.fixed_batch()
        batch = fixed or 2
        if batch < 2:
            return

        def ones(rows):
            return {spec.name: np.ones(spec.shape, spec.dtype.as_numpy_dtype) for spec in self.batch_specs(rows)}

        # The changed row holds twos (False for bool): zeros would stop a model that divides by an
        # integer input, in TF as in no run a user makes of it. Per-call inputs are the same in every run.
        last_row_changed = ones(batch)
        for name, value in last_row_changed.items():
            if name not in self.per_call_inputs():
                value[-1] = False if value.dtype == bool else 2
        feeds = [ones(batch), ones(batch), last_row_changed] + ([ones(batch + 1)] if fixed is None else [])
        try:
            runs = [{key: np.asarray(tensor) for key, tensor in self.call(
                {name: self.tf.constant(value) for name, value in feed.items()}).items()} for feed in feeds]
        except Exception as error:  # e.g. an assertion in the model that these rows do not pass
            fail(f"running the model in TensorFlow on {batch} rows of ones (one of twos) failed, which the compiler "
                 f"does to check that rows are independent: {first_informative_line(error)}")

        def same_rows(a, b, rows, tolerance):
            if min(a.ndim, b.ndim) < 1 or a.shape[1:] != b.shape[1:] or min(len(a), len(b)) < rows:
                return True  # outputs_manifest refuses outputs without one row per input row
            if a.dtype.kind in "fc":
                # float16 results round in steps of ~1e-3: a few of them are rounding, not mixing.
                tolerance = max(tolerance, 8 * float(np.finfo(a.dtype).eps))
                return np.allclose(a[:rows], b[:rows], rtol=tolerance, atol=tolerance, equal_nan=True)
            return np.array_equal(a[:rows], b[:rows])

        for key in self.output_names:
            shape = list(runs[0][key].shape)
            if not shape or shape[0] != batch:
                fail(f"output '{key}' is {shape} for {batch} rows: not one row per input row along its first "
                     f"dimension, and the {backend} backend pads and splits batches along it")
        if not all(same_rows(runs[0][key], runs[1][key], batch, 1e-6) for key in self.output_names):
            return
        mixed = [key for key in self.output_names if not same_rows(runs[0][key], runs[2][key], batch - 1, 1e-6)]
        if mixed:
            fail(f"output '{mixed[0]}' changes in one row when another row of the batch changes: "
                 f"the model mixes the rows of a batch (statistics over the batch?), and the {backend} backend pads "
                 "and splits batches, which would change its results; run it on the TensorFlow backend")
        # Another number of rows may take other kernels, whose sums round differently: a loose tolerance.
        counted = [key for key in self.output_names if len(runs) > 3 and not same_rows(runs[0][key], runs[3][key],
                                                                                        batch, 1e-3)]
        if counted:
            fail(f"output '{counted[0]}' changes in a row with the number of rows in its batch (the model uses "
                 f"the batch's size?), and the {backend} backend pads and splits batches, which would change its "
                 "results; run it on the TensorFlow backend")

    def index_ranges(self):
        """{input: (low, high)} for the integer inputs the model looks up as rows of a table (a Keras
        Embedding, tf.gather on a constant, a variable or a captured tensor): the values TF accepts,
        whose gather refuses any other, where XLA's clamps it. Candidates come from the graph (a
        gather reached from the input, its table's rows); each is kept only if TF confirms it, run by
        run: every position of the input refuses `high` (so one table serves them all) and takes
        high - 1, and the same for `low`, which is 0 or, where the model wraps negative indices as
        Keras does, -high."""
        if self._index_ranges is None:
            self._index_ranges = self._find_index_ranges()
        return self._index_ranges

    def _find_index_ranges(self):
        import numpy as np
        integer = [name for name in self.input_names if self.input_specs[name].dtype.name in ("int32", "int64")
                   and name not in self.per_call_inputs()]
        if not integer:
            return {}
        batch = self.fixed_batch() or 1
        captured_dims = {}  # a captured placeholder's name: the dims of the variable or tensor it brings in
        if self.graph_def is not None:
            graph_def = self.graph_def
            placeholder_of = {name: _node_name(self.input_tensors[name]) for name in self.input_names}
        else:
            # The traced function with its calls inlined and its variables left as variables: freezing it
            # would cost about 13 times the weights, and cannot hold a table over 2 GB.
            from tensorflow.python.framework.convert_to_constants import _run_inline_graph_optimization
            function = self._positional_function(batch)
            try:  # a private function of TF's: should it fail, no range is found and XLA's clamp stays
                graph_def = _run_inline_graph_optimization(function, False, True)
            except Exception:
                return {}
            placeholder_of = {name: tensor.op.name for name, tensor in zip(self.input_names, function.inputs)}
            variables = {id(variable.handle): variable for variable in function.variables}
            for internal, captured in zip(function.graph.internal_captures, function.captured_inputs):
                shape = variables[id(captured)].shape if id(captured) in variables else captured.shape
                if shape.rank is not None and None not in shape.as_list():
                    captured_dims[internal.op.name] = shape.as_list()
        nodes = {node.name: node for node in graph_def.node}

        def through_identities(name):
            node = nodes.get(_node_name(name))
            while node is not None and node.op in ("Identity", "Snapshot", "ReadVariableOp") and node.input:
                node = nodes.get(_node_name(node.input[0]))
            return node

        def constant_dims(node):
            if node is not None and node.op == "Placeholder":
                return captured_dims.get(node.name)
            if node is None or node.op != "Const":
                return None
            return [dim.size for dim in node.attr["value"].tensor.tensor_shape.dim]

        def ancestors(name):
            seen, pending = set(), [_node_name(name)]
            while pending:
                current = pending.pop()
                if current in seen or current not in nodes:
                    continue
                seen.add(current)
                pending.extend(_node_name(parent) for parent in nodes[current].input if not parent.startswith("^"))
            return seen

        rows = {}  # the smallest table each placeholder reaches
        for node in graph_def.node:
            # `in` first: reading a missing attribute of a proto map adds it, and Gather has no batch_dims.
            if (node.op not in ("GatherV2", "Gather", "ResourceGather") or len(node.input) < 2 or
                    ("batch_dims" in node.attr and node.attr["batch_dims"].i != 0)):
                continue
            table = constant_dims(through_identities(node.input[0]))
            axis = 0
            if node.op == "GatherV2":
                axis_node = through_identities(node.input[2]) if len(node.input) > 2 else None
                if axis_node is None or axis_node.op != "Const":
                    continue
                axis = int(self.tf.make_ndarray(axis_node.attr["value"].tensor))
            if not table or not -len(table) <= axis < len(table) or table[axis] < 1:
                continue
            for placeholder in ancestors(node.input[1]):
                rows[placeholder] = min(rows.get(placeholder, table[axis]), table[axis])

        def accepted(name, values):
            feed = {spec.name: np.ones(spec.shape, spec.dtype.as_numpy_dtype) for spec in self.batch_specs(batch)}
            shape = feed[name].shape
            feed[name] = np.broadcast_to(values.reshape(shape[1:]), shape).astype(feed[name].dtype)
            try:
                self.call({key: self.tf.constant(value) for key, value in feed.items()})
                return True
            except self.tf.errors.InvalidArgumentError as error:
                if "is not in [" in str(error):
                    return False
                raise

        ranges = {}
        for name in integer:
            high = rows.get(placeholder_of[name])
            size = int(np.prod(self.input_specs[name].shape.as_list()[1:]))
            if high is None or size > 256:
                continue

            def everywhere(value, size=size):
                return np.full(size, value, dtype=np.int64)

            def only_at(position, value, size=size):
                values = np.zeros(size, dtype=np.int64)
                values[position] = value
                return values

            try:
                if not (accepted(name, everywhere(high - 1)) and
                        not any(accepted(name, only_at(j, high)) for j in range(size))):
                    continue
                if not any(accepted(name, only_at(j, -1)) for j in range(size)):
                    ranges[name] = (0, high)
                elif accepted(name, everywhere(-high)) and not any(accepted(name, only_at(j, -high - 1))
                                                                    for j in range(size)):
                    ranges[name] = (-high, high)
            except Exception:  # a run failing otherwise: no range, no check
                continue
        return ranges

    def inputs_manifest(self, backend):
        """The inputs as manifests list them (dtype, shape with -1 for the batch; a per-call input's
        own shape), checked; with the values an integer input may hold where the model looks it up in
        a table (index_ranges)."""
        per_call = self.per_call_inputs()
        if per_call and len(per_call) == len(self.input_names):
            shapes = ", ".join(f"{name} {self.input_specs[name].shape}" for name in self.input_names)
            fail(f"no input has a batch dimension (inputs: {shapes}): the {backend} backend runs batches of rows "
                 "along an input's first dimension; run the model on the TensorFlow backend")
        inputs = []
        for name in self.input_names:
            spec = self.input_specs[name]
            if spec.dtype.name not in DTYPES:
                fail(f"input '{name}' has dtype {spec.dtype.name}; the {backend} backend takes {sorted(DTYPES)}")
            if name in per_call:
                if None in spec.shape.as_list():
                    fail(f"input '{name}' has shape {spec.shape}, fed whole with every run (its first dimension is "
                         "fixed while another input's batch is open): every dimension must be known; fix them with "
                         f"--input-shape {name}=D2,... (the dimensions after the first)")
                inputs.append({"name": name, "dtype": spec.dtype.name, "shape": spec.shape.as_list()})
            else:
                if spec.shape.rank is None or spec.shape.rank < 1 or None in spec.shape.as_list()[1:]:
                    fail(f"input '{name}' has shape {spec.shape}: every dimension but the first (the batch) must be "
                         f"known; fix them with --input-shape {name}=D1,D2,...")
                inputs.append({"name": name, "dtype": spec.dtype.name, "shape": [-1] + spec.shape.as_list()[1:]})
            if not self.saved_model:
                inputs[-1]["tensor"] = f"{name}:0"  # runs may name a frozen graph's tensors as the TF backend's do
        for entry in inputs:
            if entry["name"] in self.index_ranges():
                entry["index_range"] = list(self.index_ranges()[entry["name"]])
        return inputs

    def batch_specs(self, batch):
        """The inputs' TensorSpecs at `batch` rows (per-call inputs at their own shape), in input_names
        order."""
        per_call = self.per_call_inputs()
        return [self.tf.TensorSpec(self.input_specs[name].shape if name in per_call else
                                   [batch] + self.input_specs[name].shape.as_list()[1:], self.input_specs[name].dtype,
                                   name=name) for name in self.input_names]

    def can_feed_weights(self):
        """True unless the model is a frozen graph with TF1 loops, which tf2xla compiles as a graph,
        constants and all."""
        return not self.tf1_loops

    def variable_bytes(self):
        """The bytes --weights parameters would feed: the variables the signature's function captures
        or, for a frozen graph (or a TF1 SavedModel, frozen in a session), its large floating
        constants."""
        if self.graph_def is not None:
            return sum(math.prod(dim.size for dim in node.attr["value"].tensor.tensor_shape.dim) *
                       self.tf.as_dtype(node.attr["dtype"].type).size for node in self._graph_weights())
        return sum(variable.shape.num_elements() * variable.dtype.size
                   for variable in self._positional_function(self.fixed_batch() or 1).variables)

    def _variable_dtypes(self):
        """The dtype names --weights parameters would feed (a frozen graph's are floating by choice)."""
        if self.graph_def is not None:
            return {self.tf.as_dtype(node.attr["dtype"].type).name for node in self._graph_weights()}
        return {variable.dtype.name for variable in self._positional_function(self.fixed_batch() or 1).variables}

    def choose_weight_layout(self, layout):
        """Sets how traced_function() holds the weights, for `layout` "baked", "parameters" or "auto"
        (parameters above WEIGHTS_AS_PARAMETERS_ABOVE bytes of them, variable_bytes()), and returns
        "baked" or "parameters". A frozen graph fed so is bound again with its large constants made
        variables."""
        if layout not in WEIGHT_LAYOUTS:
            fail(f"weights '{layout}': expected one of {', '.join(WEIGHT_LAYOUTS)}")
        if layout == "parameters" and not self.can_feed_weights():
            fail(f"--weights parameters: '{self.path}' has TF1 loops ({', '.join(self.tf1_loops)}), which tf2xla "
                 "compiles as a graph with its weights as constants; compile the model's TF2 SavedModel, or use "
                 "--weights baked")
        if layout == "auto":
            feedable = (self.can_feed_weights() and self.variable_bytes() > WEIGHTS_AS_PARAMETERS_ABOVE and
                        self._variable_dtypes() <= DTYPES)
            layout = "parameters" if feedable else "baked"
        self.weights_as_parameters = layout == "parameters"
        if self.weights_as_parameters and self.variable_writes:
            self._refuse_variable_writes()
        if self.weights_as_parameters and self.graph_def is not None:
            self._bind_graph_weights_as_variables()
        return layout

    def traced_function(self, batch):
        """frozen_function(batch), or with weights_as_parameters the same function with its variables
        captured: lowered for XLA, they become the program's parameters after the inputs, in the
        order weights_of() lists them."""
        return self._positional_function(batch) if self.weights_as_parameters else self.frozen_function(batch)

    def weights_of(self, function):
        """[(name, variable or tensor)] of what `function` (a concrete function) captures, in its
        captured_inputs order: the order its lowered program takes them after the inputs, as
        StableHLO and as an HLO module (variables and captured tensors alike; tests/xla/
        weight_order_test.py). Their values are read one at a time, when written (`.numpy()`)."""
        variables = {id(variable.handle): variable for variable in function.variables}
        weights = []
        for index, captured in enumerate(function.captured_inputs):
            variable = variables.get(id(captured))
            if variable is not None:
                weights.append((variable.name.removesuffix(":0"), variable))
            elif captured.dtype == self.tf.resource:
                fail(f"'{self.path}' captures a resource that is not a variable (capture {index}), which a "
                     "compiled program cannot take as a parameter; compile it with --weights baked")
            else:
                weights.append((f"captured_tensor_{index}", captured))
        return weights

    def _positional_function(self, batch, half_as_bits=False):
        """The concrete function of positional inputs (input_names order) returning the outputs
        (output_names order) at `batch` rows, its variables captured."""
        tf = self.tf
        self._bind_if_pending()

        def crossing(dtype):
            return tf.uint16 if half_as_bits and dtype == tf.float16 else dtype

        def positional(*tensors):
            inputs = [tf.bitcast(tensor, tf.float16) if tensor.dtype != self.input_specs[name].dtype else tensor
                      for name, tensor in zip(self.input_names, tensors)]
            result = self.call(dict(zip(self.input_names, inputs)))
            return [tf.bitcast(result[key], tf.uint16) if crossing(result[key].dtype) != result[key].dtype
                    else result[key] for key in self.output_names]

        specs = [tf.TensorSpec(spec.shape, crossing(spec.dtype), name=spec.name) for spec in self.batch_specs(batch)]
        return tf.function(positional, input_signature=specs).get_concrete_function()

    def _refuse_variable_writes(self):
        jax_export = any(node.op == "XlaCallModule" for node in _all_nodes(self._traced_graph_def()))
        fail(f"the model writes its variables ({', '.join(self.variable_writes)}), and a compiled program "
             "holds them as constants and keeps no state between runs; run it on the TensorFlow backend" +
             ("; Keras 3 models exported from the JAX backend write their random-seed state on every "
              "call: export it with KERAS_BACKEND=tensorflow to compile it" if jax_export else ""))

    def frozen_function(self, batch, half_as_bits=False):
        """A concrete function of positional inputs (input_names order) returning the outputs
        (output_names order) at `batch` rows, its variables baked in as constants. Not for a graph
        with TF1 loops (see tf1_loops). half_as_bits: float16 inputs and outputs cross the function's
        boundary as their uint16 bits (the same bytes), for tfcompile, whose C++ headers have no
        float16 type."""
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
        # Functional control flow (While, If) is kept: XLA compiles it, not the TF1 Enter/Exit ops it lowers to.
        try:
            return convert_variables_to_constants_v2(self._positional_function(batch, half_as_bits),
                                                     lower_control_flow=False)
        except Exception as error:
            if "larger than 2GB" in str(error):
                fail(f"'{self.path}' has weights over 2 GB in one tensor, which TensorFlow cannot hold as a constant "
                     f"({first_informative_line(error)}); the XLA compiler feeds weights as parameters (--target pjrt "
                     "--weights parameters), ahead-of-time packages cannot; or run it on the TensorFlow backend")
            if not self.variable_writes:
                raise
            self._refuse_variable_writes()

    def output_shapes(self, batch):
        """[(shape, dtype name)] of the outputs (output_names order) at `batch` rows, found by running
        the model in TF on ones (a graph with loops may not know them statically; zeros would stop a
        model that divides by an integer input)."""
        try:
            results = self.call({spec.name: self.tf.ones(spec.shape, spec.dtype) for spec in self.batch_specs(batch)})
        except Exception as error:
            fail(f"running the model in TensorFlow on {batch} rows of ones failed, which the compiler does to find "
                 f"its output shapes: {first_informative_line(error)}")
        return [(results[key].shape.as_list(), results[key].dtype.name) for key in self.output_names]

    def outputs_manifest(self, shapes_by_batch, backend):
        """The outputs as manifests list them, from {batch: [(shape, dtype) per output]} found by
        running the compiled functions (a graph with loops may not know them statically)."""
        outputs = []
        for index, key in enumerate(self.output_names):
            shapes = [(batch, results[index][0], results[index][1]) for batch, results in shapes_by_batch.items()]
            dtype = shapes[0][2]
            check_output_dtype(key, dtype, backend)
            if any(len(shape) < 1 or shape[0] != batch for batch, shape, _ in shapes):
                fail(f"output '{key}' does not have one row per input row; the {backend} backend pads and splits "
                     "batches")
            outputs.append({"name": key, "dtype": dtype, "shape": [-1] + shapes[0][1][1:]})
            if not self.saved_model:
                outputs[-1]["tensor"] = f"{key}:0"
        return outputs

    def source_manifest(self):
        return {"path": str(self.path.resolve()), "sha256": model_hash(self.path)}
