/* Native CPU kernel of Adam.
 * Included by the native build (spikegrad/native/build.py) once per float type: SG_T is the
 * float type, SG_FN(name) its instance's name (name_f32, name_f64), SG_TINY its smallest normal
 * number, SG_V its 64-byte vector, SG_SQRT its square root. Exported functions are declared for
 * ctypes in glue.py beside this file. */

/* Adam, in place, over n elements (ops/adam/twin.py: adam_update), in the twin's order of
 * operations: m = m b1 + c1 g; v = v b2 + c2 g g; p = p decay (decoupled weight decay,
 * decay = 1 - lr wd); p -= (lr (m / bc1)) / (sqrt(v / bc2) + eps), with c1 = 1 - b1,
 * c2 = 1 - b2, bc1 = 1 - b1^step, bc2 = 1 - b2^step, decay rounded by the caller. */
void SG_FN(adam_update)(SG_T *p, const SG_T *g, SG_T *m, SG_T *v, int64_t n, SG_T b1, SG_T c1,
                        SG_T b2, SG_T c2, SG_T bc1, SG_T bc2, SG_T lr, SG_T eps, SG_T decay) {
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t k = 0; k < n; ++k) {
        SG_T mk = m[k] * b1, vk = v[k] * b2, gk = g[k];
        mk += c1 * gk;
        vk += c2 * (gk * gk);
        m[k] = mk;
        v[k] = vk;
        SG_T step = lr * (mk / bc1), den = SG_SQRT(vk / bc2);
        den += eps;
        SG_T pk = p[k] * decay;
        p[k] = pk - step / den;
    }
}

