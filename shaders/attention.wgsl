// Fused attention: out = softmax(q kᵀ + bias[index] + mask) v, flash style, for one block of
// queries of one (window, head) per workgroup. Paired with src/model/gpu_attention.rs, which fills
// in the constants below and launches it; its plain-ops twin is affine_transform::attend_plain.
//
// - q, k: [B', heads, n, D], q already normalised and scaled by the head's temperature,
//   k normalised; v: [B', heads, n_k, DV]; windows run fastest in B' (window = b % windows).
// - bias: per_entry[index[i * n_k + j] * heads + h], per_entry [T, heads], index [n_q * n_k].
// - mask: MASK_VALUE where the query's and the key's region ids differ (query_ids [windows, n_q],
//   key_ids [windows, n_k]); no mask tensor.
// - Each invocation owns one query row: its q in registers, a running maximum, sum and output
//   row (online softmax). K and V come through workgroup memory, BK keys at a time, so no score
//   map is ever written: BK * (D + DV + 1) * 4 bytes of workgroup memory, within WebGPU's 16 KiB.
// f32 only; no optional feature. Every binding is read_write: Burn's memory pool places tensors
// in shared buffers, and WebGPU refuses one buffer bound both read-only and writable in a dispatch.

const D: u32 = {{d}}u;
const DV: u32 = {{dv}}u;
// Queries per workgroup, one per invocation.
const BQ: u32 = {{bq}}u;
// Keys per tile in workgroup memory.
const BK: u32 = {{bk}}u;
const MASK_VALUE: f32 = -100.0;
// Below every finite logit: the running maximum's start.
const LOWEST: f32 = -3.0e38;

struct Params {
    n_q: u32,
    n_k: u32,
    heads: u32,
    windows: u32,
    masked: u32,
}

@group(0) @binding(0) var<storage, read_write> q: array<f32>;
@group(0) @binding(1) var<storage, read_write> k: array<f32>;
@group(0) @binding(2) var<storage, read_write> v: array<f32>;
@group(0) @binding(3) var<storage, read_write> per_entry: array<f32>;
@group(0) @binding(4) var<storage, read_write> index: array<i32>;
@group(0) @binding(5) var<storage, read_write> query_ids: array<i32>;
@group(0) @binding(6) var<storage, read_write> key_ids: array<i32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
@group(0) @binding(8) var<storage, read_write> params: Params;

// The parameters, loaded once per workgroup: a value from workgroupUniformLoad is uniform, as
// the tile loop's bound must be for its barriers (a load from read_write storage is not).
var<workgroup> shared_params: Params;
var<workgroup> k_tile: array<f32, BK * D>;
var<workgroup> v_tile: array<f32, BK * DV>;
var<workgroup> id_tile: array<i32, BK>;

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
    let item = b * heads + h;
    let window = b % p.windows;
    let row = group.x * BQ + lane;
    // Invocations past the last query compute on a copy of it (they share the barriers) and
    // write nothing.
    let qi = min(row, n_q - 1u);

    var qv: array<f32, D>;
    let q_at = (item * n_q + qi) * D;
    for (var c = 0u; c < D; c++) {
        qv[c] = q[q_at + c];
    }
    var q_id = 0;
    if masked {
        q_id = query_ids[window * n_q + qi];
    }
    let k_at = item * n_k * D;
    let v_at = item * n_k * DV;
    let index_at = qi * n_k;

    var running_max = LOWEST;
    var sum = 0.0;
    var acc: array<f32, DV>;
    var scores: array<f32, BK>;
    for (var start = 0u; start < n_k; start += BK) {
        let count = min(BK, n_k - start);
        for (var i = lane; i < count * D; i += BQ) {
            k_tile[i] = k[k_at + start * D + i];
        }
        for (var i = lane; i < count * DV; i += BQ) {
            v_tile[i] = v[v_at + start * DV + i];
        }
        if masked {
            for (var i = lane; i < count; i += BQ) {
                id_tile[i] = key_ids[window * n_k + start + i];
            }
        }
        workgroupBarrier();

        var tile_max = LOWEST;
        for (var j = 0u; j < count; j++) {
            var s = 0.0;
            for (var c = 0u; c < D; c++) {
                s += qv[c] * k_tile[j * D + c];
            }
            s += per_entry[u32(index[index_at + start + j]) * heads + h];
            if masked && id_tile[j] != q_id {
                s += MASK_VALUE;
            }
            scores[j] = s;
            tile_max = max(tile_max, s);
        }
        let new_max = max(running_max, tile_max);
        let rescale = exp(running_max - new_max);
        sum *= rescale;
        for (var c = 0u; c < DV; c++) {
            acc[c] *= rescale;
        }
        for (var j = 0u; j < count; j++) {
            let p = exp(scores[j] - new_max);
            sum += p;
            for (var c = 0u; c < DV; c++) {
                acc[c] += p * v_tile[j * DV + c];
            }
        }
        running_max = new_max;
        workgroupBarrier();
    }

    if row < n_q {
        let out_at = (item * n_q + row) * DV;
        let inverse = 1.0 / sum;
        for (var c = 0u; c < DV; c++) {
            out[out_at + c] = acc[c] * inverse;
        }
    }
}
