/* The LIF neuron kind's pieces (ALGORITHM.md §2 and §4) for the drivers of the feed-forward
 * and recurrent layers (C: spikegrad/ops/lif/cpu_kind.h; CUDA: lif.cu, lif_backward.cu,
 * ops/rlif/rlif.cu through spikegrad/kernels/kinds.cuh), which apply them per neuron and step.
 *
 * The piece interface, for every kind (spikegrad/neurons/<kind>.h, no include guard: the
 * native build includes the header once per float type and kind, native/build.py: KINDS):
 *
 *   SG_KIND_NS     state variables per neuron, x[0] = V (the one the spike compares)
 *   SG_KIND_NADJ   adjoint variables per neuron, y[0] = dL/dV
 *   SG_KIND_NC     constant slots per neuron, k[]: the kind's FORWARD_ARGS in order (the
 *                  backward passes its ADJOINT_ARGS, a prefix, the rest zero), then derived
 *   SG_KIND_DH     the adjoint variable that is dL/dh[t] at step t+1 (current_grad)
 *   SG_KIND_LOCAL_DELTA  1 when SG_KIND_DELTA reads no adjoint variable (delta = u sigma':
 *                  the CUDA sparse backward then scatters delta before its scan)
 *   SG_KIND_DERIVE(k)               fill the derived slots of k from the given ones
 *   SG_KIND_THRESHOLD(k, x)         the value V[t] is compared with: S[t] = V[t] > it; the
 *                                   surrogate and the band see |V[t] - it|
 *   SG_KIND_RECORD(x, thr)          what the dense scan keeps of step t (the kind's record)
 *   SG_KIND_UPDATE(k, x, h, s, thr) x <- the state at t+1 from x (step t), its spike s, the
 *                                   current h and the threshold thr, in place
 *   SG_KIND_DELTA(k, y, u, sp)      delta[t] at an active entry: u = dL/dS[t] (with the
 *                                   recurrent term), sp = sigma'[t], y the adjoint at t+1
 *   SG_KIND_ADJOINT(k, y, delta)    y <- the adjoint at t from y (t+1) and delta[t] (0 off the
 *                                   active set), reset detached; the driver then flushes
 *                                   every y to the denormal policy
 *
 * Every piece keeps the NumPy twin's operation order (spikegrad/neurons/<kind>.py: one
 * rounding per operation, no fused multiply-add), so the forward is bitwise the twin's. The
 * backward pieces use the driver's arithmetic SG_ADD / SG_MUL (C: + and *; CUDA: the
 * non-flushing sg_add_rn / sg_mul_rn). A new kind's header is added to native/build.py: KINDS
 * and to kernels/kinds.cuh.
 *
 * LIF: x = {V}, y = {dL/dV}, k = {alpha, theta}:
 *   V[t+1] = alpha V + h - theta S (v * alpha, then + h, then - theta where S);
 *   dv[t] = delta + alpha dv[t+1], delta = u sigma'. */
#undef SG_KIND_NS
#undef SG_KIND_NADJ
#undef SG_KIND_NC
#undef SG_KIND_DH
#undef SG_KIND_LOCAL_DELTA
#undef SG_KIND_DERIVE
#undef SG_KIND_THRESHOLD
#undef SG_KIND_RECORD
#undef SG_KIND_UPDATE
#undef SG_KIND_DELTA
#undef SG_KIND_ADJOINT
#define SG_KIND_NS 1
#define SG_KIND_NADJ 1
#define SG_KIND_NC 2
#define SG_KIND_DH 0
#define SG_KIND_LOCAL_DELTA 1
#define SG_KIND_DERIVE(k) ((void)(k))
#define SG_KIND_THRESHOLD(k, x) ((k)[1])
#define SG_KIND_RECORD(x, thr) ((x)[0])
#define SG_KIND_UPDATE(k, x, h, s, thr)                                                           \
    ((x)[0] = (s) ? (x)[0] * (k)[0] + (h) - (thr) : (x)[0] * (k)[0] + (h))
#define SG_KIND_DELTA(k, y, u, sp) SG_MUL((u), (sp))
#define SG_KIND_ADJOINT(k, y, delta) ((y)[0] = SG_ADD((delta), SG_MUL((k)[0], (y)[0])))
