//! The one matrix product the fused CPU kernels call: the `gemm` crate (the one Burn's CPU
//! backend uses, with AVX-512 or AVX2 kernels picked at run time), on one thread, the callers
//! splitting their work across threads themselves.

/// `dst[m, n] = lhs[m, k] · rhs[k, n]`, or `dst += lhs · rhs` with `accumulate`; `dst` row-major
/// and dense; `lhs_strides` and `rhs_strides` are (row, column) strides.
pub fn matmul(
    dst: &mut [f32],
    lhs: &[f32],
    rhs: &[f32],
    [m, n, k]: [usize; 3],
    lhs_strides: [usize; 2],
    rhs_strides: [usize; 2],
    accumulate: bool,
) {
    if m == 0 || n == 0 || k == 0 {
        if !accumulate {
            dst[..m * n].fill(0.0);
        }
        return;
    }
    assert!(dst.len() >= m * n && lhs.len() > (m - 1) * lhs_strides[0] + (k - 1) * lhs_strides[1]);
    assert!(rhs.len() > (k - 1) * rhs_strides[0] + (n - 1) * rhs_strides[1]);
    // SAFETY: the asserts above keep every index gemm reads or writes inside the slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_strides[1] as isize,
            lhs_strides[0] as isize,
            rhs.as_ptr(),
            rhs_strides[1] as isize,
            rhs_strides[0] as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn products_with_strides_and_accumulation() {
        // lhs [[1, 2], [3, 4]], rhs read transposed from [[5, 6], [7, 8]]: lhs · [[5, 7], [6, 8]].
        let (lhs, rhs) = ([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]);
        let mut dst = [100.0; 4];
        matmul(&mut dst, &lhs, &rhs, [2, 2, 2], [2, 1], [1, 2], false);
        assert_eq!(dst, [17.0, 23.0, 39.0, 53.0]);
        matmul(&mut dst, &lhs, &rhs, [2, 2, 2], [2, 1], [1, 2], true);
        assert_eq!(dst, [34.0, 46.0, 78.0, 106.0]);
    }
}
