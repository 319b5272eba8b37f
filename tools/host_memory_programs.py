"""StableHLO rewrites that move a program's outputs, and optionally its inputs, to the GPU's pinned
host memory, marked as JAX marks them: an `mhlo.memory_kind = "pinned_host"` attribute on the
@main result (or argument) and an `annotate_device_placement` custom call on the value. XLA then
copies them between host and device inside the program, and the caller reads the output where it
lies instead of asking PJRT for a copy.

Used by `hepinfer compile --pinned-host-io` (tools/compile_xla.py: each program's variant for
GPUs in the artifact) and by the GPU kit's probe of the batch-1 round trip (bench_pjrt_phases,
docs/gpu-validation.md). XLA's CPU plugin rejects the custom call, so these programs are for the
CUDA plugin only; the backend runs the plain program where a plugin refuses one.
"""
import re

MAIN_HEADER = re.compile(r"^  func\.func (?:public )?@main\((?P<args>.*)\) -> (?P<results>.+?) \{$", re.M)
MAIN_RETURN = re.compile(r"^    return (?P<operands>.+?) : (?P<types>.+?)(?P<loc> loc\(.*\))?$", re.M)
ARGUMENT = re.compile(r"(?P<name>%arg\d+): (?P<type>tensor<[^>]*>)")
PINNED_HOST = '{mhlo.memory_kind = "pinned_host"}'


def split_types(types):
    """'tensor<1x3xf32>, tensor<1x1xf32>' as its two types (no commas inside angle brackets)."""
    parts, depth, current = [], 0, ""
    for char in types:
        depth += (char == "<") - (char == ">")
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return parts + ([current.strip()] if current.strip() else [])


def placement(value, placed, kind, value_type):
    return (f"    {placed} = stablehlo.custom_call @annotate_device_placement({value}) {{has_side_effect = true, "
            f'mhlo.frontend_attributes = {{_xla_buffer_placement = "{kind}"}}}} : ({value_type}) -> {value_type}')


def in_pinned_host_memory(text, inputs=False, input_count=None):
    """`text` (TF's StableHLO of one program) with its results, and with `inputs` its arguments
    (the first `input_count` of them; None: all), in pinned host memory. Weights fed as parameters
    after the inputs stay in device memory, where every run reads them. Raises ValueError for a
    module whose @main it cannot read."""
    header = MAIN_HEADER.search(text)
    if header is None:
        raise ValueError("no @main function with results")
    results = header.group("results")
    result_types = split_types(results[1:-1] if results.startswith("(") else results)
    if any("{" in result for result in result_types):
        raise ValueError("@main's results already carry attributes")
    body_start = text.index("\n", header.start()) + 1
    returned = MAIN_RETURN.search(text, body_start)
    if returned is None:
        raise ValueError("no return in @main")
    operands = [operand.strip() for operand in returned.group("operands").split(",")]

    body = text[body_start:returned.start()]
    prologue = []
    arguments = header.group("args")
    if inputs:
        moved = list(ARGUMENT.finditer(header.group("args")))[:input_count]
        for argument in moved:
            name, value_type = argument.group("name"), argument.group("type")
            on_device = f"%hepinfer_device_{name[1:]}"
            prologue.append(placement(name, on_device, "device", value_type))
            body = re.sub(re.escape(name) + r"\b", on_device, body)
            operands = [on_device if operand == name else operand for operand in operands]
        moved_names = {argument.group("name") for argument in moved}
        arguments = ARGUMENT.sub(lambda match: f"{match.group(0)} {PINNED_HOST}" if match.group("name") in moved_names
                                 else match.group(0), arguments)
    epilogue = [placement(operand, f"%hepinfer_host_{i}", "pinned_host", value_type)
                for i, (operand, value_type) in enumerate(zip(operands, result_types))]
    new_return = ("    return " + ", ".join(f"%hepinfer_host_{i}" for i in range(len(operands))) + " : " +
                  returned.group("types") + (returned.group("loc") or ""))
    new_header = (f"  func.func @main({arguments}) -> (" +
                  ", ".join(f"{result} {PINNED_HOST}" for result in result_types) + ") {")
    lines = [new_header, *prologue, body.rstrip("\n"), *epilogue, new_return]
    return text[:header.start()] + "\n".join(lines) + text[returned.end():]
