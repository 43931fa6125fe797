/* The LIF neuron kind's pieces (ALGORITHM.md §2 and §4) for the C and CUDA drivers of the
 * feed-forward and recurrent layers (spikegrad/ops/lif/cpu_kind.h, lif.cu, lif_backward.cu,
 * spikegrad/ops/rlif/rlif.cu), which apply them per neuron and per step:
 *
 *   SG_KIND_UPDATE(v, h, a, theta, s)  V[t+1] from V[t] = v, its spike s = (v > theta), the
 *       input current h and alpha a: alpha V + h - theta S, in the NumPy twin's order (v * a,
 *       then + h, then - theta where s: one rounding each, no fused multiply-add).
 *   SG_KIND_ADJOINT(delta, eps_next, a)  the adjoint filter with detached reset: eps[t] =
 *       delta[t] + alpha eps[t+1], in the driver's arithmetic SG_ADD / SG_MUL (C: + and *;
 *       CUDA: the non-flushing sg_add_rn / sg_mul_rn); the driver applies the denormal policy.
 *
 * A kind is one such header (spikegrad/neurons/<kind>.h) defining the same macros: the native
 * build instantiates the C drivers once per kind (native/build.py: KINDS), named
 * <kind>_<driver>_f32/_f64. The header is included once per instance (no include guard). */
#undef SG_KIND_UPDATE
#undef SG_KIND_ADJOINT
#define SG_KIND_UPDATE(v, h, a, theta, s) ((s) ? (v) * (a) + (h) - (theta) : (v) * (a) + (h))
#define SG_KIND_ADJOINT(delta, eps_next, a) SG_ADD((delta), SG_MUL((a), (eps_next)))
