//! One place that picks a kernel's vector width at run time: [`vectorised!`] defines a function
//! that runs a portable kernel compiled for AVX-512 where the CPU has it, else for AVX2 + FMA,
//! else as it is (other CPUs, WebAssembly with `simd128` set at build time).

/// `vectorised!(pub(super) fn name(a: A, b: B) => kernel)` defines `name(a, b)`, which calls
/// `kernel::<LANES>(a, b)` compiled for the widest vectors this CPU has: `LANES` is 16 for
/// AVX-512 and 8 otherwise, the number of independent lanes a kernel's folds should keep so
/// that they vectorise. `kernel` is `#[inline(always)]`, so that it compiles into each version.
macro_rules! vectorised {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) => $kernel:ident) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) {
                    $kernel::<16>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    $kernel::<8>($($arg),*)
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has the features the function is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: as above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $kernel::<8>($($arg),*)
        }
    };
}

pub(super) use vectorised;
