//! Software GPU adapters: SwiftShader, llvmpipe/lavapipe, WARP. They run GPU code on the CPU,
//! and GRL many times slower there than on the CPU backend (a GRL-T-sized 256x256 x4 restore:
//! 9265 s on SwiftShader against 400 s on the browser's CPU fallback), so `backend: "auto"`
//! (the package) and `--backend auto` (`grl restore`) pass them over.

/// Words that name a software rasteriser in an adapter's description, vendor, architecture or
/// driver (whole words: "warp" is not "Warpspeed").
const SOFTWARE_WORDS: [&str; 5] = ["swiftshader", "llvmpipe", "lavapipe", "softpipe", "warp"];
/// Windows' software adapter names itself in a phrase.
const SOFTWARE_PHRASE: &str = "microsoft basic render";

/// Whether an adapter runs on the CPU: the browser says so (`GPUAdapterInfo.isFallbackAdapter`,
/// wgpu's `DeviceType::Cpu` natively), or one of its descriptive strings names a known software
/// rasteriser (browsers that predate `isFallbackAdapter` still report SwiftShader by name).
pub fn is_software(is_fallback: bool, strings: &[&str]) -> bool {
    is_fallback || strings.iter().any(|s| names_software(&s.to_ascii_lowercase()))
}

fn names_software(lowercase: &str) -> bool {
    lowercase.contains(SOFTWARE_PHRASE)
        || lowercase.split(|c: char| !c.is_ascii_alphanumeric()).any(|word| SOFTWARE_WORDS.contains(&word))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::is_software;

    #[test]
    fn software_adapters_are_recognised_by_flag_or_name() {
        assert!(is_software(true, &["NVIDIA GeForce RTX 4090"]));
        assert!(is_software(false, &["google", "swiftshader"]));
        assert!(is_software(false, &["SwiftShader Device (Subzero)"]));
        assert!(is_software(false, &["llvmpipe (LLVM 19.1.7, 256 bits)"]));
        assert!(is_software(false, &["Microsoft Basic Render Driver"]));
        assert!(is_software(false, &["WARP"]));
    }

    #[test]
    fn hardware_adapters_are_not() {
        for words in [&["nvidia", "ampere"][..], &["intel", "gen-12lp", "Intel(R) UHD Graphics 770"], &["apple", "metal-3"], &["AMD Radeon RX 7900"], &[]] {
            assert!(!is_software(false, words), "{words:?}");
        }
        // "warp" is a word of its own, not a part of one.
        assert!(!is_software(false, &["Warpspeed GPU 9000"]));
    }
}
