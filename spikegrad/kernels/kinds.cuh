// kinds.cuh: the neuron kinds as C++ types for the CUDA drivers (lif.cu, lif_backward.cu,
// rlif.cu), which are templated on a kind K: one struct per kind whose inline device functions
// are the kind's pieces, the SG_KIND_* macros of its header spikegrad/neurons/<kind>.h (the
// interface is described in neurons/lif.h; the C drivers of ops/lif/cpu_kind.h take the same
// pieces). Each header redefines the macros, so SG_KIND_STRUCT, expanded right after it, takes
// that kind's. Backward arithmetic: SG_ADD / SG_MUL = sg_add_rn / sg_mul_rn (common.cuh).
//
//   K::NS, K::NADJ, K::NC, K::DH   state and adjoint variables, constant slots, dL/dh's slot
//   K::LOCAL_DELTA                 delta needs no adjoint variable (delta = u sigma')
//   K::load(k, cons, n_args, n_c, j)  the constant slots of neuron j from cons (n_args, n_c)
//   threshold, record, update, delta, adjoint   the pieces, per neuron (x, y: its variables)
#define SG_KIND_STRUCT(NAME)                                                                  \
    struct NAME {                                                                             \
        static constexpr int NS = SG_KIND_NS, NADJ = SG_KIND_NADJ, NC = SG_KIND_NC;           \
        static constexpr int DH = SG_KIND_DH;                                                 \
        static constexpr bool LOCAL_DELTA = SG_KIND_LOCAL_DELTA;                              \
        template <typename SG_T>                                                              \
        static __device__ __forceinline__ void load(SG_T* k, const SG_T* cons, sg_i64 n_args, \
                                                    sg_i64 n_c, sg_i64 j) {                   \
            for (int q = 0; q < SG_KIND_NC; ++q)                                              \
                k[q] = q < n_args ? cons[q * n_c + j % n_c] : SG_T(0);                        \
            SG_KIND_DERIVE(k);                                                                \
        }                                                                                     \
        template <typename SG_T>                                                              \
        static __device__ __forceinline__ SG_T threshold(const SG_T* k, const SG_T* x) {      \
            return SG_KIND_THRESHOLD(k, x);                                                   \
        }                                                                                     \
        template <typename SG_T>                                                              \
        static __device__ __forceinline__ SG_T record(const SG_T* x, SG_T thr) {              \
            return SG_KIND_RECORD(x, thr);                                                    \
        }                                                                                     \
        template <typename SG_T>                                                              \
        static __device__ __forceinline__ void update(const SG_T* k, SG_T* x, SG_T h, bool s, \
                                                      SG_T thr) {                             \
            SG_KIND_UPDATE(k, x, h, s, thr);                                                  \
        }                                                                                     \
        template <typename SG_T>                                                              \
        static __device__ __forceinline__ SG_T delta(const SG_T* k, const SG_T* y, SG_T u,    \
                                                     SG_T sp) {                               \
            return SG_KIND_DELTA(k, y, u, sp);                                                \
        }                                                                                     \
        template <typename SG_T>                                                              \
        static __device__ __forceinline__ void adjoint(const SG_T* k, SG_T* y, SG_T delta) {  \
            SG_KIND_ADJOINT(k, y, delta);                                                     \
        }                                                                                     \
    };

#include "lif.h"
SG_KIND_STRUCT(sg_lif)
#include "cuba.h"
SG_KIND_STRUCT(sg_cuba)
#include "alif.h"
SG_KIND_STRUCT(sg_alif)
#undef SG_KIND_STRUCT
