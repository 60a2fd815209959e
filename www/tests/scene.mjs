// Functions the www tests run inside the page (with page.evaluate): a test image with a known
// clean version, and measurements of the restored result against it.

/**
 * A small photo-like scene (sky, sun, hills) with noise added, made by the browser: the noisy
 * PNG (base64) and the clean RGBA pixels.
 */
export function makeTestImage({ width, height }) {
  return (async () => {
    const canvas = new OffscreenCanvas(width, height);
    const g = canvas.getContext("2d");
    const sky = g.createLinearGradient(0, 0, 0, height);
    sky.addColorStop(0, "#3b6fd8");
    sky.addColorStop(1, "#f2c38b");
    g.fillStyle = sky;
    g.fillRect(0, 0, width, height);
    g.fillStyle = "#ffe27a";
    g.beginPath();
    g.arc(width * 0.7, height * 0.32, width * 0.12, 0, 2 * Math.PI);
    g.fill();
    g.fillStyle = "#2f6b3a";
    g.beginPath();
    g.moveTo(0, height);
    for (let x = 0; x <= width; x += 2) g.lineTo(x, height * (0.68 + 0.1 * Math.sin(x / 5)));
    g.lineTo(width, height);
    g.fill();
    // Gaussian-ish noise (sigma about 15), from a fixed seed.
    const image = g.getImageData(0, 0, width, height);
    const clean = Array.from(image.data);
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let i = 0; i < image.data.length; i += 4) {
      for (let c = 0; c < 3; c++) {
        const noise = (random() + random() + random() + random() - 2) * 26;
        image.data[i + c] = Math.max(0, Math.min(255, image.data[i + c] + noise));
      }
    }
    g.putImageData(image, 0, 0);
    const bytes = new Uint8Array(await (await canvas.convertToBlob({ type: "image/png" })).arrayBuffer());
    let binary = "";
    for (let i = 0; i < bytes.length; i += 8192) binary += String.fromCharCode(...bytes.subarray(i, i + 8192));
    return { png: btoa(binary), clean };
  })();
}

/**
 * Statistics of the result canvas (RGB): mean and standard deviation; its difference from the
 * input canvas; and, against the clean scene, PSNR of input and result and the correlation of
 * the result with it (nearest-neighbour upsampled for super-resolution).
 */
export function measureResult(clean) {
  const read = (canvas) => canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const result = document.getElementById("result");
  const input = document.getElementById("before");
  const out = read(result);
  const inp = read(input);
  const scale = result.width / input.width;
  let [n, sum, sumSq, diff, cleanSum, cleanSq, cross, errOut, errIn] = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  for (let y = 0; y < result.height; y++) {
    for (let x = 0; x < result.width; x++) {
      const o = (y * result.width + x) * 4;
      const i = (Math.floor(y / scale) * input.width + Math.floor(x / scale)) * 4;
      for (let c = 0; c < 3; c++) {
        const [v, u, r] = [out[o + c], inp[i + c], clean[i + c]];
        n++;
        sum += v;
        sumSq += v * v;
        diff += Math.abs(v - u);
        cleanSum += r;
        cleanSq += r * r;
        cross += v * r;
        errOut += (v - r) ** 2;
        errIn += (u - r) ** 2;
      }
    }
  }
  const mean = sum / n;
  const std = Math.sqrt(sumSq / n - mean * mean);
  const cleanMean = cleanSum / n;
  const cleanStd = Math.sqrt(cleanSq / n - cleanMean * cleanMean);
  const psnr = (err) => 10 * Math.log10((255 * 255) / (err / n));
  return {
    width: result.width,
    height: result.height,
    inputWidth: input.width,
    inputHeight: input.height,
    mean,
    std,
    meanAbsDiff: diff / n,
    correlation: (cross / n - mean * cleanMean) / (std * cleanStd),
    psnrInput: psnr(errIn),
    psnrResult: psnr(errOut),
  };
}

/**
 * In the page: the size of the #before and #result canvases and their roughness, the mean
 * |difference| of horizontally neighbouring values (RGB): noise of sigma 25 raises it to ~25,
 * a denoised photo has a few units.
 */
export function measureRoughness() {
  const measure = (id) => {
    const canvas = document.getElementById(id);
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let [sum, n] = [0, 0];
    for (let y = 0; y < canvas.height; y++) {
      for (let x = 1; x < canvas.width; x++) {
        const i = (y * canvas.width + x) * 4;
        for (let c = 0; c < 3; c++, n++) sum += Math.abs(data[i + c] - data[i + c - 4]);
      }
    }
    return { width: canvas.width, height: canvas.height, roughness: sum / n };
  };
  return { before: measure("before"), result: measure("result") };
}
