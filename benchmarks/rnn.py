"""The unrolled RNN used by the benchmarks: h_t = tanh(w h_{t-1} + u x_t), loss h_T²."""


def rnn_source(steps: int) -> str:
    xs = ", ".join(f"x{t}" for t in range(1, steps + 1))
    lines = [f"# unrolled RNN, {steps} steps, shared weights w and u", "h0 = 0"]
    lines += [f"h{t} = tanh(w·h{t - 1} + u·x{t})" for t in range(1, steps + 1)]
    lines.append(f"loss(w, u, {xs}) = h{steps}²")
    return "\n".join(lines) + "\n"
