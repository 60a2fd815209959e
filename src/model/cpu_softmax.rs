//! One attention score row's softmax for the fused CPU attention (`cpu_attention.rs`): scale,
//! relative-position bias gathered through the index, shift mask, `e^(s - max)` and its sum,
//! in place. Vector versions for AVX-512 and AVX2 + FMA are picked at run time; the portable
//! version is their twin in the tests.

use super::tables::MASK_VALUE;

/// One score row in place: `* scale + entries[index]`, `+ MASK_VALUE` where the key's region id
/// differs from the query's, then `e^(s - max)`. Returns the softmax's normaliser `1 / sum`,
/// which the caller applies to the row's output (`d_v` values rather than `n_k`). Every `index`
/// value is below `entries.len()`.
pub(crate) fn softmax_row(row: &mut [f32], scale: f32, entries: &[f32], index: &[u32], mask: Option<(i64, &[i64])>) -> f32 {
    debug_assert!(index.len() == row.len() && index.iter().all(|&i| (i as usize) < entries.len()));
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { softmax_row_avx512(row, scale, entries, index, mask) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: as above.
            return unsafe { softmax_row_avx2(row, scale, entries, index, mask) };
        }
    }
    softmax_row_scalar(row, scale, entries, index, mask)
}

/// [`softmax_row`] in portable code: what CPUs without AVX2 run, and the twin the vector
/// versions are tested against.
fn softmax_row_scalar(row: &mut [f32], scale: f32, entries: &[f32], index: &[u32], mask: Option<(i64, &[i64])>) -> f32 {
    bias_scalar(row, scale, entries, index);
    exponentiate::<8>(row, mask)
}

/// `row = row * scale + entries[index]`, one value at a time.
#[inline(always)]
fn bias_scalar(row: &mut [f32], scale: f32, entries: &[f32], index: &[u32]) {
    for (s, &i) in row.iter_mut().zip(index) {
        // SAFETY: every index value is below `entries.len()` (checked by `attend_slices`).
        *s = *s * scale + unsafe { *entries.get_unchecked(i as usize) };
    }
}

/// [`softmax_row`] with the bias gathered eight entries at a time (`vgatherdps`: LLVM does not
/// vectorise the scalar gather by itself) and the rest compiled for AVX2 + FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_row_avx2(row: &mut [f32], scale: f32, entries: &[f32], index: &[u32], mask: Option<(i64, &[i64])>) -> f32 {
    use std::arch::x86_64::{__m256i, _mm256_fmadd_ps, _mm256_i32gather_ps, _mm256_loadu_ps, _mm256_loadu_si256, _mm256_set1_ps, _mm256_storeu_ps};
    let full = row.len() / 8 * 8;
    let factor = _mm256_set1_ps(scale);
    for at in (0..full).step_by(8) {
        // SAFETY: `at + 8 <= row.len() == index.len()`; the index values (below 2^31) address
        // `entries`.
        unsafe {
            let offsets = _mm256_loadu_si256(index.as_ptr().add(at).cast::<__m256i>());
            let bias = _mm256_i32gather_ps::<4>(entries.as_ptr(), offsets);
            let scores = _mm256_loadu_ps(row.as_ptr().add(at));
            _mm256_storeu_ps(row.as_mut_ptr().add(at), _mm256_fmadd_ps(scores, factor, bias));
        }
    }
    bias_scalar(&mut row[full..], scale, entries, &index[full..]);
    exponentiate::<8>(row, mask)
}

/// [`softmax_row`] sixteen lanes at a time (AVX-512: `vgatherdps` on a 512-bit register, the
/// softmax's folds and `exp` on sixteen lanes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn softmax_row_avx512(row: &mut [f32], scale: f32, entries: &[f32], index: &[u32], mask: Option<(i64, &[i64])>) -> f32 {
    use std::arch::x86_64::{_mm512_fmadd_ps, _mm512_i32gather_ps, _mm512_loadu_ps, _mm512_loadu_si512, _mm512_set1_ps, _mm512_storeu_ps};
    let full = row.len() / 16 * 16;
    let factor = _mm512_set1_ps(scale);
    for at in (0..full).step_by(16) {
        // SAFETY: `at + 16 <= row.len() == index.len()`; the index values (below 2^31) address
        // `entries`.
        unsafe {
            let offsets = _mm512_loadu_si512(index.as_ptr().add(at).cast());
            let bias = _mm512_i32gather_ps::<4>(offsets, entries.as_ptr().cast());
            let scores = _mm512_loadu_ps(row.as_ptr().add(at));
            _mm512_storeu_ps(row.as_mut_ptr().add(at), _mm512_fmadd_ps(scores, factor, bias));
        }
    }
    bias_scalar(&mut row[full..], scale, entries, &index[full..]);
    exponentiate::<16>(row, mask)
}

/// The rest of [`softmax_row`] after the bias: the mask, `e^(s - max)` with its sum, over
/// `LANES` independent lanes (the vector width it is compiled for); returns `1 / sum`.
#[inline(always)]
fn exponentiate<const LANES: usize>(row: &mut [f32], mask: Option<(i64, &[i64])>) -> f32 {
    if let Some((id, keys)) = mask {
        let masked = MASK_VALUE as f32;
        for (s, &key) in row.iter_mut().zip(keys) {
            *s += if key != id { masked } else { 0.0 };
        }
    }
    let max = lanes::<LANES>(row, f32::NEG_INFINITY, f32::max);
    let mut sums = [0.0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (s, sum) in chunk.iter_mut().zip(&mut sums) {
            *s = exp(*s - max);
            *sum += *s;
        }
    }
    let mut sum = sums.iter().sum::<f32>();
    for s in chunks.into_remainder() {
        *s = exp(*s - max);
        sum += *s;
    }
    1.0 / sum
}

/// Folds `values` with `f` over `LANES` independent lanes (so that it vectorises), then the
/// lanes.
#[inline(always)]
pub(super) fn lanes<const LANES: usize>(values: &[f32], init: f32, f: impl Fn(f32, f32) -> f32 + Copy) -> f32 {
    let mut acc = [init; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a = f(*a, x);
        }
    }
    tail.iter().fold(acc.into_iter().fold(init, f), |a, &x| f(a, x))
}

/// `e^x` for `x <= 0` (a softmax's shifted logits), within 2 ulp of `f32::exp`, branch-free so
/// that loops over it vectorise: `x = n ln 2 + r`, a degree-6 polynomial for `e^r` (Cephes'
/// `expf`), `2^n` from the exponent bits. Below -87 it returns 0 instead of a subnormal
/// (nothing next to the row's maximum term, which is 1): products that read subnormal values,
/// or make them, run many times slower (the shift mask's keys are all below).
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    let underflows = x < -87.0;
    let x = x.max(-87.0);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5.000_000_1e-1;
    let e_r = p * r * r + r + 1.0;
    // The low bits of `shifted` hold n (two's complement): 2^n has exponent bits n + 127.
    let n_bits = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let e = e_r * f32::from_bits(((n_bits + 127) as u32) << 23);
    if underflows { 0.0 } else { e }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_std() {
        for i in 0..=200_000 {
            let x = -87.0 * i as f32 / 200_000.0;
            let (got, want) = (exp(x), x.exp());
            assert!((got - want).abs() <= 2.0 * f32::EPSILON * want, "exp({x}) = {got}, expected {want}");
        }
        assert_eq!((exp(-87.5), exp(-1000.0)), (0.0, 0.0));
    }

    #[test]
    fn lanes_fold_every_value() {
        let values: Vec<f32> = (0..19).map(|i| i as f32).collect();
        assert_eq!(lanes::<8>(&values, 0.0, |a, b| a + b), 171.0);
        assert_eq!(lanes::<16>(&values, f32::NEG_INFINITY, f32::max), 18.0);
    }

    /// Every softmax row this CPU can run (AVX-512, AVX2, portable) against the portable one,
    /// on row lengths around the vector widths, with and without the shift mask.
    #[test]
    fn vector_softmax_rows_match_the_portable_one() {
        let entries: Vec<f32> = (0..97).map(|i| ((i * 37) % 97) as f32 / 97.0 - 0.5).collect();
        for n in [1, 7, 8, 15, 16, 17, 40, 64, 257] {
            let row: Vec<f32> = (0..n).map(|i| ((i * 53) % 29) as f32 / 3.0 - 4.0).collect();
            let index: Vec<u32> = (0..n).map(|i| ((i * 11) % 97) as u32).collect();
            let keys: Vec<i64> = (0..n).map(|i| (i % 3) as i64).collect();
            for mask in [None, Some((1, keys.as_slice()))] {
                let mut want = row.clone();
                let want_norm = softmax_row_scalar(&mut want, 0.7, &entries, &index, mask);
                // One row and its normaliser against the portable version's, within 4e-6.
                let check = |version: &str, got: &[f32], got_norm: f32| {
                    assert!((got_norm - want_norm).abs() <= 4e-6 * want_norm, "{version}, n {n}: normaliser {got_norm} vs {want_norm}");
                    for (g, w) in got.iter().zip(&want) {
                        assert!((g - w).abs() <= 4e-6 * w.abs().max(1e-30), "{version}, n {n}: {g} vs {w}");
                    }
                };
                let mut got = row.clone();
                let got_norm = softmax_row(&mut got, 0.7, &entries, &index, mask);
                check("dispatched", &got, got_norm);
                #[cfg(target_arch = "x86_64")]
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    let mut avx2 = row.clone();
                    // SAFETY: the CPU has AVX2 and FMA.
                    let norm = unsafe { softmax_row_avx2(&mut avx2, 0.7, &entries, &index, mask) };
                    check("AVX2", &avx2, norm);
                }
            }
        }
    }
}
