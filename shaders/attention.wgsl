// Fused attention: out = softmax(t_h * q̂ k̂ᵀ + bias + mask) v, flash style, for one block of
// queries of one (window, head) per workgroup, with q̂ and k̂ the l2-normalised q and k and t_h
// the head's temperature. Paired with src/model/gpu_attention.rs, which fills in the constants
// and the source bindings below and launches it; its plain-ops twin is
// affine_transform::attend_plain after l2_normalize.
//
// - Operands are read where they lie, not from copies in window layout: q, k and v of item
//   `b = image * windows + w` (w the window within the image), token t, head h, channel c are at
//   `layout.offset + image * layout.image + position(grid, w, t) * layout.token + h * layout.head
//   + c` (a layout per operand; q and out on the query grid, k and v on the key grid). A grid
//   cuts an H x W token map, rolled by -shift, into windows (reference window_partition after
//   torch.roll), so the kernel reads the projection's packed output straight and writes its
//   rows back in place; a window-layout tensor [B', heads, n, d] is the grid of one window.
// - q and k are normalised as they are loaded (q in registers, each key as its tile is filled),
//   q times the temperature `scale[h]`.
// - bias: per_entry[entry(i, j) * heads + h], per_entry [T, heads], with the relative-position
//   entry computed, not read: entry(i, j) = query_part(i) - key_part(j) (RelativeIndex in
//   src/model/tables/coords.rs), query_part(i) = (i / q_cols) * row_width + i % q_cols + base
//   and key_part(j) = (j / k_cols) * row_width + j % k_cols, q_cols and k_cols the grids'
//   window widths; n_k a multiple of 4.
// - mask: MASK_VALUE where the query's and the key's region ids differ (ids: the query ids
//   [id_windows, n_q] then the key ids [id_windows, n_k], one buffer; the mask's window is
//   b % id_windows); no mask tensor.
// - Each invocation owns Q query rows (BQ apart): their q in registers, a running maximum, sum
//   and output row each (online softmax). K and V come through workgroup memory, BK keys at a
//   time, as vec4s of channels (zero-padded to D4 and DV4 of them), one key per invocation as a
//   tile is filled, so that every key row read is used Q times; four keys are scored and folded
//   in together (n_k a multiple of 4: every group is whole). No score map is ever written.
// - Online softmax with a lazy reference point: a row's weights are exp(logit - m) with m moved
//   (and the row's sum and output rescaled) only when a logit passes it by MARGIN, so the
//   rescale is rare and the weights stay below e^MARGIN. Each key's part of the entry comes
//   through workgroup memory with it.
//   Workgroup memory: BK * (D4 + DV4) * 16 + BK * 8 + 160 bytes, within WebGPU's 16 KiB.
// f32 only; no optional feature. Every binding is read_write: Burn's memory pool places tensors
// in shared buffers, and WebGPU refuses one buffer bound both read-only and writable in a
// dispatch; and each source buffer is bound once (the declarations filled in below: q, k, v are often one
// tensor, and WebGPU refuses two writable bindings of one range).

const D: u32 = {{d}}u;
const DV: u32 = {{dv}}u;
const D4: u32 = (D + 3u) / 4u;
const DV4: u32 = (DV + 3u) / 4u;
// Invocations per workgroup, and query rows per invocation.
const BQ: u32 = {{bq}}u;
const Q: u32 = {{rows}}u;
// Keys per tile in workgroup memory (a multiple of 4).
const BK: u32 = {{bk}}u;
const MASK_VALUE: f32 = -100.0;
// Below every finite logit: the running reference point's start.
const LOWEST: f32 = -1.0e30;
// How far a logit may pass the running reference point before the row is rescaled (e^8 < 3000).
const MARGIN: f32 = 8.0;

// An H x W token map (size), rolled by -shift, cut into windows (rows x columns) of `window`.
struct Grid {
    size: vec2<u32>,
    window: vec2<u32>,
    shift: vec2<u32>,
    windows_per_row: u32,
    windows: u32,
}

// Where an operand's values lie: see the header.
struct Layout {
    offset: u32,
    image: u32,
    token: u32,
    head: u32,
}

struct Params {
    query_grid: Grid,
    key_grid: Grid,
    q: Layout,
    k: Layout,
    v: Layout,
    out: Layout,
    n_q: u32,
    n_k: u32,
    heads: u32,
    masked: u32,
    id_windows: u32,
    row_width: u32,
    base: u32,
    unused: u32,
}

@group(0) @binding(0) var<storage, read_write> per_entry: array<f32>;
@group(0) @binding(1) var<storage, read_write> scale: array<f32>;
@group(0) @binding(2) var<storage, read_write> ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> params: Params;
{{sources}}
fn load_q(i: u32) -> f32 { return {{q_source}}[i]; }
fn load_k(i: u32) -> f32 { return {{k_source}}[i]; }
fn load_v(i: u32) -> f32 { return {{v_source}}[i]; }

// Map position (y * W + x) of token t of window w.
fn position(g: Grid, w: u32, t: u32) -> u32 {
    let y = (w / g.windows_per_row) * g.window.x + t / g.window.y;
    let x = (w % g.windows_per_row) * g.window.y + t % g.window.y;
    return ((y + g.shift.x) % g.size.x) * g.size.y + (x + g.shift.y) % g.size.y;
}

// Index of channel 0 of head h of token t of item b.
fn address(l: Layout, g: Grid, b: u32, t: u32, h: u32) -> u32 {
    return l.offset + (b / g.windows) * l.image + position(g, b % g.windows, t) * l.token + h * l.head;
}

// `1 / max(|x|, 1e-12)` from the sum of squares: F.normalize's divisor.
fn inverse_norm(squares: f32) -> f32 {
    return 1.0 / max(sqrt(squares), 1.0e-12);
}

// The parameters, loaded once per workgroup: a value from workgroupUniformLoad is uniform, as
// the tile loop's bound must be for its barriers (a load from read_write storage is not).
var<workgroup> shared_params: Params;
// Key j's channels 4c..4c+3 at [j * D4 + c], normalised.
var<workgroup> k_tile: array<vec4<f32>, BK * D4>;
var<workgroup> v_tile: array<vec4<f32>, BK * DV4>;
var<workgroup> id_tile: array<vec4<i32>, BK / 4u>;
// Key j's part of the relative-position entry, at [j / 4][j % 4].
var<workgroup> part_tile: array<vec4<i32>, BK / 4u>;

// Workgroup (query block, b, h): x the query block, y the batch item b, z the head h.
@compute @workgroup_size(BQ)
fn main(@builtin(local_invocation_index) lane: u32, @builtin(workgroup_id) group: vec3<u32>) {
    if lane == 0u {
        shared_params = params;
    }
    let p = workgroupUniformLoad(&shared_params);
    let n_q = p.n_q;
    let n_k = p.n_k;
    let heads = p.heads;
    let masked = p.masked != 0u;
    let b = group.y;
    let h = group.z;
    let id_window = b % p.id_windows;
    let temperature = scale[h];

    // Rows past the last query compute on a copy of it (they share the barriers), write nothing.
    var qv: array<vec4<f32>, Q * D4>;
    var q_ids: array<i32, Q>;
    var q_parts: array<i32, Q>;
    for (var r = 0u; r < Q; r++) {
        let row = min(group.x * BQ * Q + r * BQ + lane, n_q - 1u);
        q_parts[r] = i32((row / p.query_grid.window.y) * p.row_width + row % p.query_grid.window.y + p.base);
        let at = address(p.q, p.query_grid, b, row, h);
        var squares = 0.0;
        for (var c = 0u; c < D4; c++) {
            var x = vec4<f32>(0.0);
            for (var e = 0u; e < 4u; e++) {
                if 4u * c + e < D {
                    x[e] = load_q(at + 4u * c + e);
                }
            }
            squares += dot(x, x);
            qv[r * D4 + c] = x;
        }
        let factor = temperature * inverse_norm(squares);
        for (var c = 0u; c < D4; c++) {
            qv[r * D4 + c] *= factor;
        }
        if masked {
            q_ids[r] = ids[id_window * n_q + row];
        }
    }
    let key_ids_at = p.id_windows * n_q + id_window * n_k;

    var reference: array<f32, Q>;
    var sum: array<f32, Q>;
    var acc: array<vec4<f32>, Q * DV4>;
    for (var r = 0u; r < Q; r++) {
        reference[r] = LOWEST;
    }
    for (var start = 0u; start < n_k; start += BK) {
        // One key per invocation: its k normalised, its v. Keys past the last are zeros
        // (workgroup memory starts undefined, and 0 * NaN is NaN).
        let count = min(BK, n_k - start);
        for (var slot = lane; slot < BK; slot += BQ) {
            let live = slot < count;
            let key = min(start + slot, n_k - 1u);
            let k_at = address(p.k, p.key_grid, b, key, h);
            var squares = 0.0;
            for (var c = 0u; c < D4; c++) {
                var x = vec4<f32>(0.0);
                for (var e = 0u; e < 4u; e++) {
                    if live && 4u * c + e < D {
                        x[e] = load_k(k_at + 4u * c + e);
                    }
                }
                squares += dot(x, x);
                k_tile[slot * D4 + c] = x;
            }
            let factor = inverse_norm(squares);
            for (var c = 0u; c < D4; c++) {
                k_tile[slot * D4 + c] *= factor;
            }
            let v_at = address(p.v, p.key_grid, b, key, h);
            for (var c = 0u; c < DV4; c++) {
                var x = vec4<f32>(0.0);
                for (var e = 0u; e < 4u; e++) {
                    if live && 4u * c + e < DV {
                        x[e] = load_v(v_at + 4u * c + e);
                    }
                }
                v_tile[slot * DV4 + c] = x;
            }
        }
        // A key past the last gets part 0: its entry stays inside the table (entry(i, 0)).
        for (var i = lane; i < BK / 4u; i += BQ) {
            var key_ids = vec4<i32>(0);
            var parts = vec4<i32>(0);
            for (var e = 0u; e < 4u; e++) {
                let key = start + 4u * i + e;
                if 4u * i + e < count {
                    parts[e] = i32((key / p.key_grid.window.y) * p.row_width + key % p.key_grid.window.y);
                    if masked {
                        key_ids[e] = ids[key_ids_at + key];
                    }
                }
            }
            part_tile[i] = parts;
            id_tile[i] = key_ids;
        }
        workgroupBarrier();

        for (var j = 0u; j < count; j += 4u) {
            // s[r]: the logits of query row r against keys j..j+3. Zeroed explicitly: Chrome's
            // WebGPU (SwiftShader) kept the last group's values in a loop-local `var s: T;`.
            var s = array<vec4<f32>, Q>();
            for (var c = 0u; c < D4; c++) {
                let k0 = k_tile[j * D4 + c];
                let k1 = k_tile[(j + 1u) * D4 + c];
                let k2 = k_tile[(j + 2u) * D4 + c];
                let k3 = k_tile[(j + 3u) * D4 + c];
                for (var r = 0u; r < Q; r++) {
                    let x = qv[r * D4 + c];
                    s[r] += vec4<f32>(dot(x, k0), dot(x, k1), dot(x, k2), dot(x, k3));
                }
            }
            let key_ids4 = id_tile[j / 4u];
            let key_parts4 = part_tile[j / 4u];
            var weights: array<vec4<f32>, Q>;
            for (var r = 0u; r < Q; r++) {
                let entries = vec4<i32>(q_parts[r]) - key_parts4;
                var logits = s[r] + vec4<f32>(
                    per_entry[u32(entries.x) * heads + h],
                    per_entry[u32(entries.y) * heads + h],
                    per_entry[u32(entries.z) * heads + h],
                    per_entry[u32(entries.w) * heads + h],
                );
                if masked {
                    logits += select(vec4<f32>(0.0), vec4<f32>(MASK_VALUE), key_ids4 != vec4<i32>(q_ids[r]));
                }
                // The reference point moves only when a logit passes it by MARGIN: weights stay
                // below e^MARGIN, and the rescale of the row's sum and output is rare.
                let group_max = max(max(logits.x, logits.y), max(logits.z, logits.w));
                if group_max > reference[r] + MARGIN {
                    let rescale = exp(reference[r] - group_max);
                    sum[r] *= rescale;
                    for (var c = 0u; c < DV4; c++) {
                        acc[r * DV4 + c] *= rescale;
                    }
                    reference[r] = group_max;
                }
                weights[r] = exp(logits - vec4<f32>(reference[r]));
                sum[r] += (weights[r].x + weights[r].y) + (weights[r].z + weights[r].w);
            }
            for (var c = 0u; c < DV4; c++) {
                let v0 = v_tile[j * DV4 + c];
                let v1 = v_tile[(j + 1u) * DV4 + c];
                let v2 = v_tile[(j + 2u) * DV4 + c];
                let v3 = v_tile[(j + 3u) * DV4 + c];
                for (var r = 0u; r < Q; r++) {
                    let w = weights[r];
                    acc[r * DV4 + c] += w.x * v0 + w.y * v1 + w.z * v2 + w.w * v3;
                }
            }
        }
        workgroupBarrier();
    }

    for (var r = 0u; r < Q; r++) {
        let row = group.x * BQ * Q + r * BQ + lane;
        if row < n_q {
            let at = address(p.out, p.query_grid, b, row, h);
            let inverse = 1.0 / sum[r];
            for (var c = 0u; c < DV; c++) {
                out[at + c] = acc[r * DV4 + c / 4u][c % 4u] * inverse;
            }
        }
    }
}
