//! Relative-coordinate tables, relative-position indices and shift masks.
//!
//! They depend only on the configuration and on the padded input size, so they are computed
//! (never loaded) once per padded shape: [`TableIndexMask::new`] builds all of them, and the
//! model takes them as an argument, so a caller that runs many tiles of one shape builds them
//! once. The pure functions return plain `Vec`s (row-major) and are unit-tested on hand-worked
//! cases; the masks are built on the device from small region-id tensors, and only for the
//! windows that need one ([`ShiftMask`]): a full mask is large (`nW * N * N` values, 256 MiB
//! for a 256x256 input with 32x32 windows) and zero everywhere but in the last row and the
//! last column of windows.
//!
//! - `coords`: the log-spaced coordinate tables and the relative-position indices into them
//!   (window-sized, independent of the input).
//! - `shift_mask`: region ids of a shifted partition and the masks built from them.
//! - `index_mask`: the stripe geometry of an input size and [`TableIndexMask`], everything one
//!   padded input size needs, built on the device.
//! - `reference_buffers`: the same values under the reference's buffer names, for parity tests.
//! - `bias_cache`: a coordinate table with the per-entry biases computed from it.
//! - `position_index`: a relative-position index as its rule, its tables built on first use.

mod bias_cache;
mod coords;
mod index_mask;
mod position_index;
mod reference_buffers;
mod shift_mask;

pub use bias_cache::{BiasCache, CoordTable};
pub use coords::{IndexDirection, RelativeIndex, coords_table};
pub use position_index::PositionIndex;
pub use index_mask::{StripeGeometry, StripeOrientation, StripeTables, TableIndexMask, WindowTables, stripe_geometry};
pub use reference_buffers::{BufferValues, ReferenceBuffer};
pub use shift_mask::{MASK_VALUE, ShiftMask, mask_from_ids, region_ids};

#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) use coords::relative_position_index;
#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) use index_mask::small_test_tables;
