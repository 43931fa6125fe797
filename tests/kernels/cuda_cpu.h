// cuda_cpu.h: the CUDA built-ins a spikegrad kernel uses, for compiling a .cu file as C++ (g++)
// and running its grid on the CPU. A test tool, not a backend: it is strict where CUDA leaves
// behaviour undefined, so that a kernel bug shows up as a wrong result or an error.
//
// Two ways to run a grid (both return 0, or 1 with the message in sg_last_error()):
// - sg_launch: kernels without block cooperation. Their threads are independent, so any order
//   must give the twin's result: the threads run in the order sg_configure selects (ascending,
//   descending or a seeded shuffle of the whole grid), in one OS thread or spread over several
//   OS threads that run at the same time (`workers`). atomicAdd & co. are real atomics
//   (std::atomic_ref), so a plain `+=` in their place loses updates when workers > 1.
// - sg_launch_threads: kernels of spikegrad.kernels.COOPERATIVE. Blocks run one after another
//   (in the configured order); inside a block every CUDA thread is an OS thread.
//   __syncthreads is a block barrier; warp collectives (__shfl*_sync, __ballot_sync,
//   __syncwarp) meet the lanes named in their mask. Errors instead of hangs or silent garbage:
//   a calling lane outside its mask, lanes of one mask meeting at different calls (source
//   line), a lane returning while others wait for it, __syncthreads after a thread returned,
//   and any wait longer than `timeout_s` (a deadlock) end the launch with a message naming the
//   block, the lanes and where each one is. A shuffle reading a lane outside the mask gets
//   NaN (floats) or 0x5a5a... (integers): CUDA leaves that value undefined.
// __shared__ variables are static: correct because the blocks of a launch run one at a time.
#pragma once
#include <math.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static

struct dim3 {
    unsigned x, y, z;
};
inline thread_local dim3 threadIdx{0, 0, 0}, blockIdx{0, 0, 0};
inline dim3 blockDim{1, 1, 1}, gridDim{1, 1, 1};
constexpr int warpSize = 32;

// ------------------------------------------------------------------------ configuration
struct sg_config_t {
    int order = 0;                 // 0 ascending, 1 descending, 2 shuffled (seeded)
    unsigned long long seed = 0;   // of the shuffle
    int workers = 1;               // OS threads running a sequential kernel's grid at once
    double timeout_s = 10.0;       // longest wait at a barrier or warp collective
};
inline sg_config_t sg_config;

// ------------------------------------------------------------------------------ errors
struct sg_abort {};  // thrown inside a CUDA thread to end it once a launch has failed
inline std::mutex sg_error_mu;
inline std::string sg_error;  // the first error of the last launch

inline void sg_record(const std::string& msg) {
    std::lock_guard<std::mutex> g(sg_error_mu);
    if (sg_error.empty()) sg_error = msg;
}

template <typename... A>
std::string sg_fmt(const char* f, A... a) {
    char buf[512];
    std::snprintf(buf, sizeof buf, f, a...);
    return buf;
}

// --------------------------------------------------------------------------- atomics
template <typename T>
inline T atomicAdd(T* address, T val) {
    return std::atomic_ref<T>(*address).fetch_add(val);
}
template <typename T>
inline T atomicSub(T* address, T val) {
    return std::atomic_ref<T>(*address).fetch_sub(val);
}
template <typename T>
inline T atomicExch(T* address, T val) {
    return std::atomic_ref<T>(*address).exchange(val);
}
template <typename T>
inline T atomicCAS(T* address, T compare, T val) {
    std::atomic_ref<T>(*address).compare_exchange_strong(compare, val);
    return compare;
}
template <typename T>
inline T atomicMax(T* address, T val) {
    std::atomic_ref<T> a(*address);
    T old = a.load();
    while (old < val && !a.compare_exchange_weak(old, val)) {
    }
    return old;
}
template <typename T>
inline T atomicMin(T* address, T val) {
    std::atomic_ref<T> a(*address);
    T old = a.load();
    while (val < old && !a.compare_exchange_weak(old, val)) {
    }
    return old;
}
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }
template <typename T>
inline T __ldg(const T* p) {
    return *p;
}

// ------------------------------------------------------------- block cooperation state
enum sg_where { SG_RUNNING, SG_AT_BARRIER, SG_AT_WARP_OP, SG_RETURNED };

struct sg_group {  // one warp collective in progress: the lanes of `mask` meet
    bool open = false, complete = false;
    unsigned mask = 0, arrived = 0, readers = 0;
    int kind = 0, line = 0;
    unsigned long long poison = 0;
    unsigned long long value[32] = {}, result[32] = {};
    int param[32] = {}, width[32] = {};
};

struct sg_warp_state {
    std::condition_variable cv;
    sg_group groups[32];
};

struct sg_lane_state {
    sg_where where = SG_RUNNING;
    int line = 0;
    const char* op = "";
    unsigned long long gen = 0;  // at a barrier: its generation (released once bar_gen moves on)
};

struct sg_block_state {
    std::mutex mu;
    std::condition_variable cv;  // block barrier and end of block
    unsigned n = 0, block = 0;
    bool failed = false;
    unsigned bar_arrived = 0, returned = 0;
    unsigned long long bar_gen = 0, block_gen = 0;
    int bar_line = 0;
    std::vector<sg_lane_state> lanes;
    std::vector<sg_warp_state> warps;
    explicit sg_block_state(unsigned threads) : n(threads), lanes(threads), warps(threads / 32) {}
};
inline thread_local sg_block_state* sg_this_block = nullptr;

[[noreturn]] inline void sg_not_cooperative(const char* what) {
    sg_record(std::string(what) +
              " in a kernel run sequentially: list it in spikegrad.kernels.COOPERATIVE");
    throw sg_abort{};
}

// Where threads first .. first+count-1 are, those at a barrier left out when skip_barrier
// (for the messages); called with st.mu held.
inline std::string sg_where_all(sg_block_state& st, unsigned first, unsigned count,
                                bool skip_barrier = false) {
    std::string out = " threads:";
    for (unsigned t = first; t < first + count; ++t) {
        const sg_lane_state& l = st.lanes[t];
        if (skip_barrier && l.where == SG_AT_BARRIER) continue;
        std::string w = l.where == SG_RUNNING      ? "running"
                        : l.where == SG_RETURNED   ? "returned"
                        : l.where == SG_AT_BARRIER ? sg_fmt("__syncthreads@%d", l.line)
                                                   : sg_fmt("%s@%d", l.op, l.line);
        out += sg_fmt(" %u:%s", t, w.c_str());
    }
    return out;
}

// Fails the launch: records msg, wakes every waiter, ends this thread. st.mu is held.
[[noreturn]] inline void sg_fail(sg_block_state& st, const std::string& msg) {
    sg_record(sg_fmt("block %u: ", st.block) + msg);
    st.failed = true;
    st.cv.notify_all();
    for (auto& w : st.warps) w.cv.notify_all();
    throw sg_abort{};
}

inline std::chrono::steady_clock::time_point sg_deadline() {
    return std::chrono::steady_clock::now() +
           std::chrono::duration_cast<std::chrono::steady_clock::duration>(
               std::chrono::duration<double>(sg_config.timeout_s));
}

enum sg_kind { SG_SHFL, SG_SHFL_UP, SG_SHFL_DOWN, SG_SHFL_XOR, SG_BALLOT, SG_SYNCWARP };
inline const char* sg_kind_name(int k) {
    static const char* names[] = {"__shfl_sync", "__shfl_up_sync", "__shfl_down_sync",
                                  "__shfl_xor_sync", "__ballot_sync", "__syncwarp"};
    return names[k];
}

// A thread about to wait at a barrier must not be expected at a warp collective it skipped.
inline void sg_check_not_awaited(sg_block_state& st, unsigned t, const char* what, int line) {
    sg_warp_state& w = st.warps[t / 32];
    const unsigned bit = 1u << (t & 31u);
    for (const sg_group& g : w.groups)
        if (g.open && !g.complete && (g.mask & bit) && !(g.arrived & bit))
            sg_fail(st, sg_fmt("thread %u reached %s%s while lanes 0x%08x of its warp wait for it "
                               "at %s (line %d, mask 0x%08x)",
                               t, what, line ? sg_fmt(" (line %d)", line).c_str() : "",
                               g.arrived, sg_kind_name(g.kind), g.line, g.mask));
}

inline void __syncthreads_at(int line) {
    sg_block_state* stp = sg_this_block;
    if (!stp) sg_not_cooperative("__syncthreads");
    sg_block_state& st = *stp;
    const unsigned t = threadIdx.x;
    std::unique_lock<std::mutex> lk(st.mu);
    if (st.failed) throw sg_abort{};
    if (st.returned)
        sg_fail(st, sg_fmt("thread %u at __syncthreads (line %d) after %u thread(s) of the block "
                           "returned: the barrier can never complete;",
                           t, line, st.returned) +
                        sg_where_all(st, 0, st.n, true));
    sg_check_not_awaited(st, t, "__syncthreads", line);
    if (st.bar_arrived && st.bar_line != line)
        sg_fail(st, sg_fmt("thread %u at __syncthreads line %d while others wait at line %d",
                           t, line, st.bar_line));
    st.bar_line = line;
    st.lanes[t] = {SG_AT_BARRIER, line, "__syncthreads", st.bar_gen};
    const unsigned long long gen = st.bar_gen;
    if (++st.bar_arrived == st.n) {
        st.bar_arrived = 0;
        ++st.bar_gen;
        st.cv.notify_all();
    } else if (!st.cv.wait_until(lk, sg_deadline(),
                                 [&] { return st.bar_gen != gen || st.failed; })) {
        sg_fail(st, sg_fmt("timeout after %.1f s at __syncthreads (line %d): %u of %u threads "
                           "arrived; the others are",
                           sg_config.timeout_s, line, st.bar_arrived, st.n) +
                        sg_where_all(st, 0, st.n, true));
    }
    if (st.failed) throw sg_abort{};
    st.lanes[t] = {SG_RUNNING, 0, ""};
}
#define __syncthreads() __syncthreads_at(__LINE__)

// Every lane of a complete group gets its result (CUDA's source-lane rules per kind).
inline void sg_resolve(sg_group& g) {
    for (unsigned lane = 0; lane < 32; ++lane) {
        if (!(g.mask >> lane & 1u)) continue;
        const int w = g.width[lane];
        const int seg = int(lane) & ~(w - 1);
        const int p = g.param[lane];
        int src = int(lane);
        switch (g.kind) {
            case SG_SHFL: src = seg + (p & (w - 1)); break;
            case SG_SHFL_UP: src = (int(lane) - seg) >= p ? int(lane) - p : int(lane); break;
            case SG_SHFL_DOWN: src = (int(lane) - seg) + p < w ? int(lane) + p : int(lane); break;
            case SG_SHFL_XOR: src = (int(lane) ^ p) < seg + w ? int(lane) ^ p : int(lane); break;
            default: break;
        }
        if (g.kind == SG_BALLOT) {
            unsigned long long bits = 0;
            for (unsigned q = 0; q < 32; ++q)
                if ((g.mask >> q & 1u) && g.value[q]) bits |= 1ull << q;
            g.result[lane] = bits;
        } else {
            g.result[lane] = (g.mask >> src & 1u) ? g.value[src] : g.poison;
        }
    }
    g.complete = true;
}

template <typename T>
unsigned long long sg_poison_bits() {
    T v;
    if constexpr (std::is_floating_point_v<T>) v = std::numeric_limits<T>::quiet_NaN();
    else std::memset(&v, 0x5a, sizeof v);
    unsigned long long out = 0;
    std::memcpy(&out, &v, sizeof v);
    return out;
}

template <typename T>
T sg_warp_op(int kind, unsigned mask, T v, int param, int width, int line) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "warp op on a wide type");
    sg_block_state* stp = sg_this_block;
    if (!stp) sg_not_cooperative(sg_kind_name(kind));
    sg_block_state& st = *stp;
    const unsigned t = threadIdx.x, lane = t & 31u, bit = 1u << lane;
    std::unique_lock<std::mutex> lk(st.mu);
    if (st.failed) throw sg_abort{};
    const char* name = sg_kind_name(kind);
    if (!(mask & bit))
        sg_fail(st, sg_fmt("lane %u (thread %u) calls %s (line %d) with mask 0x%08x, which does "
                           "not name it",
                           lane, t, name, line, mask));
    if (width < 1 || width > 32 || (width & (width - 1)))
        sg_fail(st, sg_fmt("%s (line %d): width %d is not a power of two <= 32", name, line,
                           width));
    sg_warp_state& w = st.warps[t / 32];
    sg_group* g = nullptr;
    for (sg_group& c : w.groups) {
        if (!c.open || c.complete || !(c.mask & mask)) continue;
        if (c.mask != mask || c.kind != kind || c.line != line)
            sg_fail(st, sg_fmt("lane %u (thread %u) calls %s (line %d, mask 0x%08x) while lanes "
                               "0x%08x of its warp wait at %s (line %d, mask 0x%08x)",
                               lane, t, name, line, mask, c.arrived, sg_kind_name(c.kind), c.line,
                               c.mask));
        g = &c;
        break;
    }
    if (!g) {
        for (sg_group& c : w.groups)
            if (!c.open) {
                g = &c;
                break;
            }
        if (!g) sg_fail(st, "more than 32 warp collectives open in one warp");
        *g = sg_group{};
        g->open = true;
        g->mask = mask;
        g->kind = kind;
        g->line = line;
        g->poison = sg_poison_bits<T>();
    }
    // a lane that returned or waits at a barrier not yet complete: deadlock (a lane released
    // from a barrier may not have run yet: its generation is behind bar_gen)
    for (unsigned q = 0; q < 32; ++q) {
        const sg_lane_state& l = st.lanes[(t & ~31u) + q];
        if ((mask >> q & 1u) && !(g->arrived >> q & 1u) &&
            (l.where == SG_RETURNED || (l.where == SG_AT_BARRIER && l.gen == st.bar_gen)))
            sg_fail(st, sg_fmt("lane %u (thread %u) calls %s (line %d, mask 0x%08x) but lane %u "
                               "%s: the collective can never complete",
                               lane, t, name, line, mask, q,
                               l.where == SG_RETURNED
                                   ? "returned from the kernel"
                                   : sg_fmt("waits at __syncthreads (line %d)", l.line).c_str()));
    }
    std::memcpy(&g->value[lane], &v, sizeof(T));
    g->param[lane] = param;
    g->width[lane] = width;
    g->arrived |= bit;
    st.lanes[t] = {SG_AT_WARP_OP, line, name};
    if (g->arrived == mask) {
        sg_resolve(*g);
        w.cv.notify_all();
    } else if (!w.cv.wait_until(lk, sg_deadline(), [&] { return g->complete || st.failed; })) {
        sg_fail(st, sg_fmt("timeout after %.1f s at %s (line %d, mask 0x%08x): lanes 0x%08x "
                           "arrived; warp %u,",
                           sg_config.timeout_s, name, line, mask, g->arrived, t / 32) +
                        sg_where_all(st, t & ~31u, 32));
    }
    if (st.failed) throw sg_abort{};
    T out;
    std::memcpy(&out, &g->result[lane], sizeof(T));
    if (++g->readers == static_cast<unsigned>(__builtin_popcount(mask))) g->open = false;
    st.lanes[t] = {SG_RUNNING, 0, ""};
    return out;
}

template <typename T>
T __shfl_sync(unsigned mask, T v, int src, int width = 32, int line = __builtin_LINE()) {
    return sg_warp_op(SG_SHFL, mask, v, src, width, line);
}
template <typename T>
T __shfl_up_sync(unsigned mask, T v, unsigned d, int width = 32, int line = __builtin_LINE()) {
    return sg_warp_op(SG_SHFL_UP, mask, v, int(d), width, line);
}
template <typename T>
T __shfl_down_sync(unsigned mask, T v, unsigned d, int width = 32, int line = __builtin_LINE()) {
    return sg_warp_op(SG_SHFL_DOWN, mask, v, int(d), width, line);
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int m, int width = 32, int line = __builtin_LINE()) {
    return sg_warp_op(SG_SHFL_XOR, mask, v, m, width, line);
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline unsigned __ballot_sync(unsigned mask, int pred, int line = __builtin_LINE()) {
    return unsigned(sg_warp_op(SG_BALLOT, mask, (unsigned long long)(pred != 0), 0, 32, line));
}
inline void __syncwarp(unsigned mask = 0xffffffffu, int line = __builtin_LINE()) {
    sg_warp_op(SG_SYNCWARP, mask, 0, 0, 32, line);
}

// A thread returned from the kernel: nobody may still wait for it. st.mu is held.
inline void sg_thread_returned(sg_block_state& st, unsigned t) {
    sg_check_not_awaited(st, t, "the end of the kernel", 0);
    if (st.bar_arrived)
        sg_fail(st, sg_fmt("thread %u returned while %u thread(s) wait at __syncthreads (line %d)",
                           t, st.bar_arrived, st.bar_line));
    st.lanes[t] = {SG_RETURNED, 0, ""};
    ++st.returned;
}

// ------------------------------------------------------------------------ signatures
// Kernel signature codes, checked by the Python side against the arguments it passes:
// scalars f d i q (float double int long long); pointers F D I Q B U (to float double int
// long long unsigned-char unsigned-long-long), H and W to the 16-bit weight copies sg_f16
// (float16 arrays) and sg_bf16 (uint16 arrays holding bfloat16; common.cuh).
struct sg_f16;
struct sg_bf16;
template <typename X>
constexpr char sg_code() {
    if constexpr (std::is_pointer_v<X>) {
        using E = std::remove_cv_t<std::remove_pointer_t<X>>;
        if constexpr (std::is_same_v<E, float>) return 'F';
        else if constexpr (std::is_same_v<E, double>) return 'D';
        else if constexpr (std::is_same_v<E, int>) return 'I';
        else if constexpr (std::is_same_v<E, long long>) return 'Q';
        else if constexpr (std::is_same_v<E, unsigned char>) return 'B';
        else if constexpr (std::is_same_v<E, unsigned long long>) return 'U';
        else if constexpr (std::is_same_v<E, sg_f16>) return 'H';
        else if constexpr (std::is_same_v<E, sg_bf16>) return 'W';
        else return '?';
    } else if constexpr (std::is_same_v<X, float>) return 'f';
    else if constexpr (std::is_same_v<X, double>) return 'd';
    else if constexpr (std::is_same_v<X, int>) return 'i';
    else if constexpr (std::is_same_v<X, long long>) return 'q';
    else return '?';
}

template <typename... A>
const char* sg_signature(void (*)(A...)) {
    static const char codes[] = {sg_code<std::remove_cv_t<A>>()..., 0};
    return codes;
}

template <typename... A, std::size_t... K>
void sg_invoke(void (*kernel)(A...), void** args, std::index_sequence<K...>) {
    kernel(*static_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(args[K])...);
}

// ---------------------------------------------------------------------------- launches
// 0 .. n-1 in the configured order.
inline std::vector<unsigned> sg_order(unsigned n) {
    std::vector<unsigned> ids(n);
    std::iota(ids.begin(), ids.end(), 0u);
    if (sg_config.order == 1) std::reverse(ids.begin(), ids.end());
    if (sg_config.order == 2) std::shuffle(ids.begin(), ids.end(), std::mt19937_64(sg_config.seed));
    return ids;
}

inline void sg_begin(unsigned grid, unsigned block) {
    sg_error.clear();
    gridDim = {grid, 1, 1};
    blockDim = {block, 1, 1};
}

// Runs body() and turns a C++ exception into a recorded error (it must not cross extern "C").
template <typename F>
void sg_guard(F&& body) {
    try {
        body();
    } catch (const sg_abort&) {
    } catch (const std::exception& e) {
        sg_record(std::string("C++ exception: ") + e.what());
    }
}

// args follows the CUDA driver's kernelParams convention: args[k] points at parameter k.
template <typename... A>
int sg_launch(void (*kernel)(A...), unsigned grid, unsigned block, void** args) {
    sg_begin(grid, block);
    const unsigned n = grid * block;
    const std::vector<unsigned> ids = sg_order(n);
    auto run = [&](unsigned lo, unsigned hi) {
        sg_guard([&] {
            for (unsigned k = lo; k < hi; ++k) {
                blockIdx = {ids[k] / block, 0, 0};
                threadIdx = {ids[k] % block, 0, 0};
                sg_invoke(kernel, args, std::index_sequence_for<A...>{});
            }
        });
    };
    const unsigned p = std::max(1u, std::min<unsigned>(sg_config.workers, n));
    if (p == 1) {
        run(0, n);
    } else {  // contiguous slices: the workers touch the same outputs at the same time
        std::vector<std::thread> workers;
        for (unsigned w = 0; w < p; ++w)
            workers.emplace_back(run, unsigned(1ull * n * w / p), unsigned(1ull * n * (w + 1) / p));
        for (auto& th : workers) th.join();
    }
    return sg_error.empty() ? 0 : 1;
}

template <typename... A>
int sg_launch_threads(void (*kernel)(A...), unsigned grid, unsigned block, void** args) {
    sg_begin(grid, block);
    if (block % 32 != 0) {
        sg_record(sg_fmt("sg_launch_threads: block size %u is not a multiple of 32", block));
        return 1;
    }
    const std::vector<unsigned> blocks = sg_order(grid);
    sg_block_state st(block);
    st.block = blocks.empty() ? 0 : blocks[0];
    auto thread_main = [&](unsigned t) {
        sg_this_block = &st;
        threadIdx = {t, 0, 0};
        sg_guard([&] {
            for (unsigned b : blocks) {
                blockIdx = {b, 0, 0};
                sg_invoke(kernel, args, std::index_sequence_for<A...>{});
                std::unique_lock<std::mutex> lk(st.mu);
                if (st.failed) return;
                sg_thread_returned(st, t);
                const unsigned long long gen = st.block_gen;
                if (st.returned == st.n) {  // the last one out resets the block
                    st.returned = 0;
                    st.bar_gen = 0;
                    for (auto& l : st.lanes) l = sg_lane_state{};
                    ++st.block_gen;
                    const std::size_t next = std::size_t(st.block_gen);
                    if (next < blocks.size()) st.block = blocks[next];
                    st.cv.notify_all();
                } else {
                    st.cv.wait(lk, [&] { return st.block_gen != gen || st.failed; });
                    if (st.failed) return;
                }
            }
        });
    };
    std::vector<std::thread> threads;
    threads.reserve(block);
    for (unsigned t : sg_order(block)) threads.emplace_back(thread_main, t);
    for (auto& th : threads) th.join();
    return sg_error.empty() ? 0 : 1;
}

extern "C" void sg_configure(int order, unsigned long long seed, int workers, double timeout_s) {
    sg_config = {order, seed, workers, timeout_s};
}

extern "C" const char* sg_last_error() { return sg_error.c_str(); }
