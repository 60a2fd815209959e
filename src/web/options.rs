//! The options JS passes to `Restorer.create` and `restorer.restore`, parsed once with
//! serde-wasm-bindgen into the structs below, whose TypeScript declarations tsify writes into
//! the package's .d.ts. Each field's parser gives the error message the package documents
//! (npm/README.md), naming the value and what was expected, in place of serde's own.

use js_sys::Function;
use serde::de::{DeserializeOwned, Error as _, IntoDeserializer};
use serde::{Deserialize, Deserializer};
use tsify::Tsify;
use wasm_bindgen::prelude::*;
use web_sys::AbortSignal;

use crate::restore;

/// Where `Restorer.create` runs the model: "auto" tries WebGPU and falls back to the CPU.
#[derive(Deserialize, Tsify, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    #[default]
    Auto,
    Webgpu,
    Cpu,
}

/// Options of Restorer.create.
#[derive(Deserialize, Tsify, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct CreateOptions {
    /// "auto" (default): WebGPU on a hardware adapter; the CPU when WebGPU is missing, fails to
    /// start, or runs on a software adapter (SwiftShader, llvmpipe: slower than the CPU).
    #[serde(default, deserialize_with = "backend")]
    #[tsify(optional)]
    pub backend: BackendChoice,
    /// Workers restoring tiles side by side on the CPU fallback: "auto" (default) for
    /// navigator.hardwareConcurrency, or a number; 1 restores on the calling thread. Unused on
    /// WebGPU.
    #[serde(default, deserialize_with = "threads")]
    #[tsify(optional, type = "number | \"auto\"")]
    pub threads: Option<usize>,
}

/// Options of Restorer.restore.
#[derive(Deserialize, Tsify, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct RestoreOptions {
    /// "auto" (default): the largest tile that fits the device; or a side in pixels.
    #[serde(default, deserialize_with = "tile_size")]
    #[tsify(optional, type = "number | \"auto\"")]
    pub tile_size: Option<usize>,
    /// Pixels shared by neighbouring tiles (default 16).
    #[serde(default, deserialize_with = "overlap")]
    #[tsify(optional)]
    pub overlap: Option<usize>,
    /// Called after each tile.
    #[serde(default, deserialize_with = "on_progress")]
    #[tsify(optional, type = "(done: number, total: number, tile: ProgressTile) => void")]
    pub on_progress: Option<Function>,
    /// Rejects the restore with Error("cancelled") before the next tile once aborted.
    #[serde(default, deserialize_with = "signal")]
    #[tsify(optional, type = "AbortSignal")]
    pub signal: Option<AbortSignal>,
}

impl RestoreOptions {
    /// The tiling these options ask for.
    pub fn tiling(&self) -> restore::RestoreOptions {
        let default = restore::RestoreOptions::default();
        restore::RestoreOptions {
            tile: self.tile_size,
            overlap: self.overlap.unwrap_or(default.overlap),
            ..default
        }
    }
}

/// The second argument of `onProgress`: the tile just finished, in input pixels, and the tile
/// side in use.
#[derive(serde::Serialize, Tsify, Debug)]
pub struct ProgressTile {
    /// Left edge.
    pub x: usize,
    /// Top edge.
    pub y: usize,
    pub width: usize,
    pub height: usize,
    /// The side of the tiles in use (a failed tile is split into smaller ones).
    pub tile: usize,
}

/// Options as JS passes them: `undefined`, `null` or any other non-object gives the defaults.
pub fn parse<T: DeserializeOwned + Default>(options: &JsValue) -> Result<T, JsError> {
    if !options.is_object() {
        return Ok(T::default());
    }
    serde_wasm_bindgen::from_value(options.clone()).map_err(|e| {
        // The parsers below make JS `Error`s: their message, without `String(error)`'s "Error: ".
        let error = JsValue::from(e);
        match error.dyn_ref::<js_sys::Error>() {
            Some(error) => JsError::new(&String::from(error.message())),
            None => JsError::new(&format!("invalid options: {error:?}")),
        }
    })
}

/// `backend`: one of [`BackendChoice`]'s names.
fn backend<'de, D: Deserializer<'de>>(d: D) -> Result<BackendChoice, D::Error> {
    let name = Option::<String>::deserialize(d).map_err(|_| D::Error::custom("option backend must be a string"))?;
    let Some(name) = name else { return Ok(BackendChoice::default()) };
    BackendChoice::deserialize(name.as_str().into_deserializer()).map_err(|_: serde::de::value::Error| {
        D::Error::custom(format!("backend is {name:?}: expected \"auto\", \"webgpu\" or \"cpu\""))
    })
}

/// A number or "auto", as JS gives `tileSize` and `threads`.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrAuto {
    Number(f64),
    Auto(Auto),
}

/// The word "auto".
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Auto {
    Auto,
}

/// Option `name`: a whole number of `unit`, at least 1, or "auto" (`None`).
fn whole_or_auto<'de, D: Deserializer<'de>>(d: D, name: &str, unit: &str) -> Result<Option<usize>, D::Error> {
    match Option::<NumberOrAuto>::deserialize(d) {
        Ok(None | Some(NumberOrAuto::Auto(Auto::Auto))) => Ok(None),
        Ok(Some(NumberOrAuto::Number(n))) if n >= 1.0 && n.fract() == 0.0 => Ok(Some(n as usize)),
        Ok(Some(NumberOrAuto::Number(n))) => {
            Err(D::Error::custom(format!("{name} is {n}: expected a whole number of {unit} or \"auto\"")))
        }
        Err(_) => Err(D::Error::custom(format!("{name} must be a number or \"auto\""))),
    }
}

/// `tileSize`: a whole number of pixels, at least 1, or "auto" (`None`).
fn tile_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    whole_or_auto(d, "tileSize", "pixels")
}

/// The most workers `threads` may ask for (each holds a WebAssembly instance and the model).
pub const MAX_THREADS: usize = 64;

/// `threads`: a whole number of workers, from 1 to [`MAX_THREADS`], or "auto" (`None`).
fn threads<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    match whole_or_auto(d, "threads", "workers")? {
        Some(n) if n > MAX_THREADS => Err(D::Error::custom(format!("threads is {n}: expected at most {MAX_THREADS} workers"))),
        n => Ok(n),
    }
}

/// `overlap`: a whole number of pixels.
fn overlap<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    match Option::<f64>::deserialize(d) {
        Ok(None) => Ok(None),
        Ok(Some(n)) if n >= 0.0 && n.fract() == 0.0 => Ok(Some(n as usize)),
        Ok(Some(n)) => Err(D::Error::custom(format!("overlap is {n}: expected a whole number of pixels"))),
        Err(_) => Err(D::Error::custom("overlap must be a number")),
    }
}

/// `onProgress`: a function, kept as the JS value it is.
fn on_progress<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Function>, D::Error> {
    let value: JsValue = serde_wasm_bindgen::preserve::deserialize(d)?;
    if value.is_undefined() {
        return Ok(None);
    }
    value.dyn_into().map(Some).map_err(|_| D::Error::custom("onProgress must be a function"))
}

/// `signal`: an `AbortSignal`, kept as the JS value it is.
fn signal<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AbortSignal>, D::Error> {
    let value: JsValue = serde_wasm_bindgen::preserve::deserialize(d)?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value.dyn_into().map(Some).map_err(|_| D::Error::custom("signal must be an AbortSignal"))
}
