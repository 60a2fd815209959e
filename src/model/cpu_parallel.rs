//! The one place the fused CPU kernels split their work: pieces of an output slice, in parallel
//! on rayon's pool natively (bounded by `--threads`), one after the other in WebAssembly (where
//! the package parallelises across tiles in workers instead).

/// Runs `f(i, piece)` on every `chunk`-long piece of `values` (the last may be shorter).
pub fn for_each_chunk(values: &mut [f32], chunk: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    for_each_chunk_with(values, chunk, || (), |_, i, piece| f(i, piece));
}

/// [`for_each_chunk`] with a scratch value per thread, made by `init` and handed to every piece
/// that thread runs.
pub fn for_each_chunk_with<S>(
    values: &mut [f32],
    chunk: usize,
    init: impl Fn() -> S + Sync + Send,
    f: impl Fn(&mut S, usize, &mut [f32]) + Sync + Send,
) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        values.par_chunks_mut(chunk).enumerate().for_each_init(init, |scratch, (i, piece)| f(scratch, i, piece));
    }
    #[cfg(target_arch = "wasm32")]
    {
        let mut scratch = init();
        values.chunks_mut(chunk).enumerate().for_each(|(i, piece)| f(&mut scratch, i, piece));
    }
}

/// A new vector of `len` values made `chunk` values at a time by `f(i, piece)`, in parallel
/// natively. Each piece starts as `pattern` repeated (`chunk` a multiple of its length), written
/// by the thread that runs the piece: the buffer is written once, in cache, instead of being
/// zeroed first on one thread (what `vec![0.0; len]` costs) and then overwritten.
pub fn build_chunks(len: usize, chunk: usize, pattern: &[f32], f: impl Fn(usize, &mut [f32]) + Sync + Send) -> Vec<f32> {
    assert!(!pattern.is_empty() && chunk > 0 && chunk.is_multiple_of(pattern.len()), "chunk {chunk} is not a multiple of the {}-value pattern", pattern.len());
    let mut values = Vec::<f32>::with_capacity(len);
    let run = |i: usize, piece: &mut [std::mem::MaybeUninit<f32>]| {
        fill(piece, pattern);
        // SAFETY: every value of `piece` was written just above; `f32` has no invalid bit patterns.
        let piece = unsafe { &mut *(piece as *mut [std::mem::MaybeUninit<f32>] as *mut [f32]) };
        f(i, piece);
    };
    let spare = &mut values.spare_capacity_mut()[..len];
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        spare.par_chunks_mut(chunk).enumerate().for_each(|(i, piece)| run(i, piece));
    }
    #[cfg(target_arch = "wasm32")]
    spare.chunks_mut(chunk).enumerate().for_each(|(i, piece)| run(i, piece));
    // SAFETY: the pieces cover `0..len` and every one was written by `run` (a panic in `f`
    // propagates before this line, leaving the vector empty).
    unsafe { values.set_len(len) };
    values
}

/// Writes `pattern` repeated over `slots` (the last copy cut short): a vectorised fill for one
/// value, else one block copy per repeat (a value-by-value loop over `pattern.iter().cycle()`
/// did not vectorise, and cost training 5% of a step).
fn fill(slots: &mut [std::mem::MaybeUninit<f32>], pattern: &[f32]) {
    if let [value] = pattern {
        slots.fill(std::mem::MaybeUninit::new(*value));
        return;
    }
    for run in slots.chunks_mut(pattern.len()) {
        // SAFETY: `run` holds at most `pattern.len()` slots; f32 and MaybeUninit<f32> share a
        // layout, and the two slices are distinct allocations.
        unsafe { std::ptr::copy_nonoverlapping(pattern.as_ptr(), run.as_mut_ptr().cast::<f32>(), run.len()) };
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn built_chunks_start_from_the_pattern_and_cover_every_value() {
        let values = build_chunks(10, 4, &[1.0, 2.0], |i, piece| piece[0] += 10.0 * i as f32);
        assert_eq!(values, [1.0, 2.0, 1.0, 2.0, 11.0, 2.0, 1.0, 2.0, 21.0, 2.0]);
        assert_eq!(build_chunks(5, 2, &[3.0], |i, piece| piece[0] += i as f32), [3.0, 3.0, 4.0, 3.0, 5.0]);
        assert!(build_chunks(0, 4, &[0.0], |_, _| unreachable!()).is_empty());
    }
}
