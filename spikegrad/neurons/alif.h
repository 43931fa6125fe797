/* The ALIF kind's pieces (ALGORITHM.md §8; the interface: spikegrad/neurons/lif.h).
 * x = {V, a}, y = {dv, da} (dL/dV, dL/da), k = {alpha, rho, beta, theta, 1 - rho}:
 *   A[t] = theta + beta a,  S = V > A,  V[t+1] = alpha V + h - A S,  a[t+1] = rho a + (1 - rho) S
 *   delta = (u + (1 - rho) da[t+1]) sigma',  dv[t] = delta + alpha dv[t+1],
 *   da[t] = rho da[t+1] - beta delta,  dL/dh[t] = dv[t+1]          (spikegrad/neurons/alif.py)
 * The record of the dense scan is V - A (its distance |V - A|). */
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
#define SG_KIND_NC 5
#define SG_KIND_DH 0
#define SG_KIND_LOCAL_DELTA 0
#define SG_KIND_DERIVE(k) ((k)[4] = (SG_T)1 - (k)[1])
#define SG_KIND_THRESHOLD(k, x) ((k)[3] + (k)[2] * (x)[1])
#define SG_KIND_RECORD(x, thr) ((x)[0] - (thr))
#define SG_KIND_UPDATE(k, x, h, s, thr)                                                           \
    ((x)[0] = (s) ? (x)[0] * (k)[0] + (h) - (thr) : (x)[0] * (k)[0] + (h),                      \
     (x)[1] = (s) ? (x)[1] * (k)[1] + (k)[4] : (x)[1] * (k)[1])
#define SG_KIND_DELTA(k, y, u, sp) SG_MUL(SG_ADD((u), SG_MUL((k)[4], (y)[1])), (sp))
#define SG_KIND_ADJOINT(k, y, delta)                                                              \
    ((y)[0] = SG_ADD((delta), SG_MUL((y)[0], (k)[0])),                                          \
     (y)[1] = SG_ADD(SG_MUL((y)[1], (k)[1]), -SG_MUL((k)[2], (delta))))
