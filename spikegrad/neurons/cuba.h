/* The CuBa LIF kind's pieces (ALGORITHM.md §8; the interface: spikegrad/neurons/lif.h).
 * x = {V, I}, y = {dv, di} (dL/dV, dL/dI), k = {alpha, alpha_syn, theta}:
 *   V[t+1] = alpha V + I - theta S,  I[t+1] = alpha_syn I + h   (spikegrad/neurons/cuba.py)
 *   dv[t] = delta + alpha dv[t+1],  di[t] = alpha_syn di[t+1] + dv[t+1],  dL/dh[t] = di[t+1] */
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
#define SG_KIND_NS 2
#define SG_KIND_NADJ 2
#define SG_KIND_NC 3
#define SG_KIND_DH 1
#define SG_KIND_LOCAL_DELTA 1
#define SG_KIND_DERIVE(k) ((void)(k))
#define SG_KIND_THRESHOLD(k, x) ((k)[2])
#define SG_KIND_RECORD(x, thr) ((x)[0])
#define SG_KIND_UPDATE(k, x, h, s, thr)                                                           \
    ((x)[0] = (s) ? (x)[0] * (k)[0] + (x)[1] - (thr) : (x)[0] * (k)[0] + (x)[1],                \
     (x)[1] = (x)[1] * (k)[1] + (h))
#define SG_KIND_DELTA(k, y, u, sp) SG_MUL((u), (sp))
#define SG_KIND_ADJOINT(k, y, delta)                                                              \
    ((y)[1] = SG_ADD(SG_MUL((y)[1], (k)[1]), (y)[0]),                                           \
     (y)[0] = SG_ADD((delta), SG_MUL((y)[0], (k)[0])))
