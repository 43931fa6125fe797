/* Native CPU kernel of the 16-bit weight copies (ops/half/twin.py: half_copy), included once
 * (untyped): out[k] = a[k] rounded to nearest, ties to even, as bfloat16 bits (the upper half of
 * the float32 after rounding; a NaN stays a NaN, quiet) or as float16 (F16C's conversion, 16
 * or 8 at a time, where the compiler targets it). The bits of the twin's, a NaN's payload
 * aside. Returns 0, or -1 for float16 without F16C (the wrapper then runs the twin). */
static inline uint16_t sg_bf16_round(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

int sg_half_copy(const float *a, uint16_t *out, int64_t n, int bf16) {
    if (bf16) {
        for (int64_t k = 0; k < n; ++k) out[k] = sg_bf16_round(a[k]);
        return 0;
    }
#ifdef __F16C__
    int64_t k = 0;
#ifdef __AVX512F__
    for (; k + 16 <= n; k += 16)
        _mm256_storeu_si256((__m256i *)(out + k),
                            _mm512_cvtps_ph(_mm512_loadu_ps(a + k), _MM_FROUND_TO_NEAREST_INT));
#endif
    for (; k + 8 <= n; k += 8)
        _mm_storeu_si128((__m128i *)(out + k),
                         _mm256_cvtps_ph(_mm256_loadu_ps(a + k), _MM_FROUND_TO_NEAREST_INT));
    for (; k < n; ++k) out[k] = _cvtss_sh(a[k], _MM_FROUND_TO_NEAREST_INT);
    return 0;
#else
    (void)a;
    (void)out;
    (void)n;
    return -1;
#endif
}
