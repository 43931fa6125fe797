"""A deliberately plain reference of ALGORITHM.md §1-4 and §8: batch-major, one loop step per
time step.

Independent of the engine's code (no registry, no sparse matrices, no time-major layout). The
spike nonlinearity is a parameter: ``f``/``fprime`` = Heaviside and the band-masked surrogate
give the engine's semantics; a smooth ``f`` with its true derivative gives a "smooth
stand-in" whose gradient can be checked by finite differences. The reset always uses the
Heaviside spike, whose derivative is 0 almost everywhere: that is the detached reset.

Recurrence: ``Rs`` is a list with an (N, N) matrix or None per hidden layer; the recurrent
input at step t is ``f(V[t-1]) @ R``. ``p["alpha"]`` is one float or a list per hidden layer
of a float or an (N,) array (per-neuron decay).

Neuron kinds (§8): ``p["kind"]`` (absent: every layer "lif") is a list with "lif", "cuba" or
"alif" per hidden layer; "cuba" layers read ``p["alpha_syn"][l]``, "alif" layers
``p["alpha_adapt"][l]`` (rho) and ``p["beta_adapt"][l]`` (each a float or an (N,) array).
ALIF's spike is f(V - A + theta) (f's threshold theta then means A) and its adaptation trace
follows that spike; its reset subtracts A H(V - A). ``resets`` (a list of (B, T, N) arrays per
hidden layer, e.g. kept by an earlier call through ``kept``) fixes the reset amounts: a
finite-difference check of the smooth stand-in then sees exactly the detached reset.
"""

from __future__ import annotations

import numpy as np


def heaviside(theta):
    return lambda v: (v > theta).astype(v.dtype)


def masked_surrogate(theta, beta_s, b_th):
    def fp(v):
        d = np.abs(v - theta)
        return np.where(d < b_th, 1.0 / (beta_s * d + 1.0) ** 2, 0.0)

    return fp


def fast_sigmoid(theta, beta):
    """Smooth stand-in spike (v - theta) / (beta |v - theta| + 1) and its derivative."""
    return (
        lambda v: (v - theta) / (beta * np.abs(v - theta) + 1.0),
        lambda v: 1.0 / (beta * np.abs(v - theta) + 1.0) ** 2,
    )


def layer_alpha(p, l):
    """The decay of hidden layer l (0-based): a float or an (N,) array."""
    a = p["alpha"]
    return a[l] if isinstance(a, list) else a


def layer_kind(p, l):
    """The neuron kind of hidden layer l (0-based)."""
    return p["kind"][l] if "kind" in p else "lif"


def forward(x, Ws, W_out, p, f, Rs=None, resets=None, kept=None):
    """Returns the scores, the readout's trace, per hidden layer (input, Z, output) with Z the
    spike function's argument (V; V - A + theta for ALIF), and the last layer's output.
    ``kept``: a list that receives each layer's reset amounts (B, T, N). x: (B, T, N0) float.
    """
    B, T, _ = x.shape
    Rs = Rs or [None] * len(Ws)
    inp, rec = x, []
    for l, (W, R) in enumerate(zip(Ws, Rs, strict=True)):
        N = W.shape[1]
        alpha, kind, theta = layer_alpha(p, l), layer_kind(p, l), p["theta"]
        V, Z, out = np.zeros((B, T, N)), np.zeros((B, T, N)), np.zeros((B, T, N))
        I, a = np.zeros((B, T, N)), np.zeros((B, T, N))  # CuBa's current, ALIF's trace
        reset = np.zeros((B, T, N)) if resets is None else resets[l]
        for t in range(T):
            if t > 0:
                h = inp[:, t - 1] @ W
                if R is not None:
                    h = h + out[:, t - 1] @ R
                if kind == "cuba":
                    I[:, t] = p["alpha_syn"][l] * I[:, t - 1] + h
                    h = I[:, t - 1]
                if kind == "alif":
                    rho = p["alpha_adapt"][l]
                    a[:, t] = rho * a[:, t - 1] + (1 - rho) * out[:, t - 1]
                V[:, t] = alpha * V[:, t - 1] + h - reset[:, t - 1]
            A = theta + p["beta_adapt"][l] * a[:, t] if kind == "alif" else theta
            if resets is None:
                reset[:, t] = A * (V[:, t] > A)
            Z[:, t] = V[:, t] - A + theta if kind == "alif" else V[:, t]
            out[:, t] = f(Z[:, t])
        if kept is not None:
            kept.append(reset)
        rec.append((inp, Z, out))
        inp = out
    K = W_out.shape[1]
    u = np.zeros((B, T, K))
    for t in range(1, T):
        u[:, t] = p["alpha_out"] * u[:, t - 1] + (1 - p["alpha_out"]) * (inp[:, t - 1] @ W_out)
    if p["readout"] == "max":
        m = u.max(axis=1)
    elif p["readout"] == "sum":
        m = u.sum(axis=1)
    else:
        m = u[:, -1]
    return m, u, rec, inp


def reg_terms(out, reg):
    """Regulariser value and dL/d out[b, t, j] (the same for every t)."""
    B, _, N = out.shape
    c = out.sum(axis=1)
    loss, grad = 0.0, np.zeros((B, N))
    for b in range(B):
        r = c[b].sum() / N - reg["f_up"]
        if r > 0:
            loss += reg["lambda_up"] * r ** reg["p_up"]
            grad[b] += reg["lambda_up"] * reg["p_up"] * r ** (reg["p_up"] - 1) / N
        elif r == 0 and reg["p_up"] == 1:  # the kink: torch.clamp passes the gradient
            grad[b] += reg["lambda_up"] / N
        low = np.maximum(reg["f_low"] - c[b], 0)
        loss += reg["lambda_low"] / N * (low**2).sum()
        grad[b] -= 2 * reg["lambda_low"] / N * low
    return loss / B, grad / B


def loss_and_grad(x, y, Ws, W_out, p, f, fprime, reg=None, Rs=None, resets=None):
    """Loss and gradients {W1.., R{l} of recurrent layers, W_out} by plain BPTT with explicit
    time loops (the reset detached; ALIF's adaptation path not)."""
    B, T, _ = x.shape
    Rs = Rs or [None] * len(Ws)
    m, u, rec, s_last = forward(x, Ws, W_out, p, f, Rs, resets)
    z = m - m.max(axis=1, keepdims=True)
    prob = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss = -np.log(prob[np.arange(B), y]).mean()
    dm = prob.copy()
    dm[np.arange(B), y] -= 1
    dm /= B
    du = np.zeros_like(u)
    if p["readout"] == "max":
        arg = u.argmax(axis=1)
        for b in range(B):
            for k in range(u.shape[2]):
                du[b, arg[b, k], k] = dm[b, k]
    elif p["readout"] == "sum":
        du[:] = dm[:, None, :]
    else:
        du[:, -1] = dm
    ar = p["alpha_out"]
    G = np.zeros((B, T + 1, u.shape[2]))
    for t in range(T - 1, -1, -1):
        G[:, t] = du[:, t] + ar * G[:, t + 1]
    grads = {"W_out": np.zeros_like(W_out)}
    gS = np.zeros_like(s_last)
    for t in range(T):
        grads["W_out"] += s_last[:, t].T @ ((1 - ar) * G[:, t + 1])
        gS[:, t] = (1 - ar) * G[:, t + 1] @ W_out.T
    regs = [reg_terms(out, reg) if reg else (0.0, 0.0) for (_, _, out) in rec]
    loss += sum(r[0] for r in regs)
    for l in range(len(Ws), 0, -1):
        inp, Z, out = rec[l - 1]
        W, R, alpha = Ws[l - 1], Rs[l - 1], layer_alpha(p, l - 1)
        kind = layer_kind(p, l - 1)
        g = gS + (regs[l - 1][1][:, None, :] if reg else 0.0)
        eps = np.zeros((B, T + 1, W.shape[1]))  # dL/dV[t]
        eps_x = np.zeros((B, T + 1, W.shape[1]))  # CuBa: dL/dI[t]; ALIF: dL/da[t]
        dh = np.zeros((B, T + 1, W.shape[1]))  # dh[:, t + 1] = dL/dh[t]
        for t in range(T - 1, -1, -1):
            dh[:, t + 1] = eps_x[:, t + 1] if kind == "cuba" else eps[:, t + 1]
            g_t = g[:, t] + (dh[:, t + 1] @ R.T if R is not None else 0.0)  # out[t] -> h[t]
            if kind == "alif":
                rho, beta = p["alpha_adapt"][l - 1], p["beta_adapt"][l - 1]
                delta = fprime(Z[:, t]) * (g_t + (1 - rho) * eps_x[:, t + 1])
                eps_x[:, t] = rho * eps_x[:, t + 1] - beta * delta
            else:
                delta = fprime(Z[:, t]) * g_t
            eps[:, t] = delta + alpha * eps[:, t + 1]
            if kind == "cuba":
                eps_x[:, t] = p["alpha_syn"][l - 1] * eps_x[:, t + 1] + eps[:, t + 1]
        dW = np.zeros_like(W)
        gS = np.zeros_like(inp)
        for t in range(T):
            dW += inp[:, t].T @ dh[:, t + 1]
            gS[:, t] = dh[:, t + 1] @ W.T
        grads[f"W{l}"] = dW
        if R is not None:
            grads[f"R{l}"] = sum(out[:, t].T @ dh[:, t + 1] for t in range(T))
    return loss, grads
