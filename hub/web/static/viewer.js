/* A small WebGL viewer of the hub's GLB files (binary glTF 2.0 as the hub writes them:
   triangle meshes, float positions, integer indices). Flat shading, drag to orbit, wheel or
   pinch to zoom. Where WebGL is missing, the thumbnail PNG is shown instead. */
"use strict";
const cofabViewer = (() => {
  function parseGlb(buffer) {
    const view = new DataView(buffer);
    if (view.getUint32(0, true) !== 0x46546C67) throw new Error("not a GLB file");
    let offset = 12, json = null, bin = null;
    while (offset < view.byteLength) {
      const length = view.getUint32(offset, true), type = view.getUint32(offset + 4, true);
      const start = offset + 8;
      if (type === 0x4E4F534A) json = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, start, length)));
      else if (type === 0x004E4942) bin = buffer.slice(start, start + length);
      offset = start + length;
    }
    if (!json || !bin) throw new Error("GLB without JSON or binary chunk");
    return {json, bin};
  }

  const COMPONENTS = {SCALAR: 1, VEC2: 2, VEC3: 3, VEC4: 4};
  const ARRAYS = {5121: Uint8Array, 5123: Uint16Array, 5125: Uint32Array, 5126: Float32Array};

  function accessor(gltf, bin, index) {
    const acc = gltf.accessors[index], bv = gltf.bufferViews[acc.bufferView];
    const Type = ARRAYS[acc.componentType], n = COMPONENTS[acc.type];
    const stride = bv.byteStride || 0, base = (bv.byteOffset || 0) + (acc.byteOffset || 0);
    if (!stride || stride === n * Type.BYTES_PER_ELEMENT) return new Type(bin, base, acc.count * n);
    const out = new Type(acc.count * n), dv = new DataView(bin);
    const get = {5121: "getUint8", 5123: "getUint16", 5125: "getUint32", 5126: "getFloat32"}[acc.componentType];
    for (let i = 0; i < acc.count; i++) for (let c = 0; c < n; c++)
      out[i * n + c] = dv[get](base + i * stride + c * Type.BYTES_PER_ELEMENT, true);
    return out;
  }

  function mul(a, b) {   // column-major 4x4
    const o = new Float32Array(16);
    for (let c = 0; c < 4; c++) for (let r = 0; r < 4; r++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += a[k * 4 + r] * b[c * 4 + k];
      o[c * 4 + r] = s;
    }
    return o;
  }

  function nodeMatrix(n) {
    if (n.matrix) return Float32Array.from(n.matrix);
    const [x, y, z, w] = n.rotation || [0, 0, 0, 1], [sx, sy, sz] = n.scale || [1, 1, 1], t = n.translation || [0, 0, 0];
    return Float32Array.from([
      (1 - 2 * (y * y + z * z)) * sx, 2 * (x * y + z * w) * sx, 2 * (x * z - y * w) * sx, 0,
      2 * (x * y - z * w) * sy, (1 - 2 * (x * x + z * z)) * sy, 2 * (y * z + x * w) * sy, 0,
      2 * (x * z + y * w) * sz, 2 * (y * z - x * w) * sz, (1 - 2 * (x * x + y * y)) * sz, 0,
      t[0], t[1], t[2], 1]);
  }

  /* Every triangle of the scene, world positions, de-indexed: Float32Array of 9 floats per face. */
  function triangles(gltf, bin) {
    const out = [];
    const identity = Float32Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    const visit = (index, parent) => {
      const n = gltf.nodes[index], m = mul(parent, nodeMatrix(n));
      if (n.mesh !== undefined) {
        for (const prim of gltf.meshes[n.mesh].primitives) {
          if ((prim.mode ?? 4) !== 4 || prim.attributes.POSITION === undefined) continue;
          const pos = accessor(gltf, bin, prim.attributes.POSITION);
          const idx = prim.indices !== undefined ? accessor(gltf, bin, prim.indices) : null;
          const count = idx ? idx.length : pos.length / 3;
          const tri = new Float32Array(count * 3);
          for (let i = 0; i < count; i++) {
            const v = (idx ? idx[i] : i) * 3, x = pos[v], y = pos[v + 1], z = pos[v + 2];
            tri[i * 3] = m[0] * x + m[4] * y + m[8] * z + m[12];
            tri[i * 3 + 1] = m[1] * x + m[5] * y + m[9] * z + m[13];
            tri[i * 3 + 2] = m[2] * x + m[6] * y + m[10] * z + m[14];
          }
          out.push(tri);
        }
      }
      for (const child of n.children || []) visit(child, m);
    };
    const scene = gltf.scenes[gltf.scene || 0];
    for (const root of scene.nodes) visit(root, identity);
    const total = out.reduce((s, a) => s + a.length, 0), all = new Float32Array(total);
    let o = 0;
    for (const a of out) { all.set(a, o); o += a.length; }
    return all;
  }

  function normalsAndFit(tri) {
    const min = [Infinity, Infinity, Infinity], max = [-Infinity, -Infinity, -Infinity];
    for (let i = 0; i < tri.length; i += 3) for (let c = 0; c < 3; c++) {
      min[c] = Math.min(min[c], tri[i + c]); max[c] = Math.max(max[c], tri[i + c]);
    }
    const centre = min.map((v, c) => (v + max[c]) / 2);
    const size = Math.max(...max.map((v, c) => v - min[c])) || 1;
    const pos = new Float32Array(tri.length), nor = new Float32Array(tri.length);
    for (let i = 0; i < tri.length; i += 9) {
      for (let k = 0; k < 9; k++) pos[i + k] = (tri[i + k] - centre[k % 3]) / size;
      const ax = pos[i + 3] - pos[i], ay = pos[i + 4] - pos[i + 1], az = pos[i + 5] - pos[i + 2];
      const bx = pos[i + 6] - pos[i], by = pos[i + 7] - pos[i + 1], bz = pos[i + 8] - pos[i + 2];
      let nx = ay * bz - az * by, ny = az * bx - ax * bz, nz = ax * by - ay * bx;
      const len = Math.hypot(nx, ny, nz) || 1;
      nx /= len; ny /= len; nz /= len;
      for (let k = 0; k < 3; k++) { nor[i + k * 3] = nx; nor[i + k * 3 + 1] = ny; nor[i + k * 3 + 2] = nz; }
    }
    return {pos, nor};
  }

  const VS = `attribute vec3 p; attribute vec3 n; uniform mat4 mvp; uniform mat4 model; varying vec3 vn;
    void main() { vn = (model * vec4(n, 0.0)).xyz; gl_Position = mvp * vec4(p, 1.0); }`;
  const FS = `precision mediump float; varying vec3 vn;
    void main() { vec3 N = normalize(vn); float d = max(dot(N, normalize(vec3(0.4, 0.8, 0.6))), 0.0);
      float b = max(dot(N, normalize(vec3(-0.6, -0.2, -0.5))), 0.0);
      vec3 c = vec3(0.12, 0.44, 0.36) * (0.35 + 0.6 * d + 0.2 * b) + vec3(0.08);
      gl_FragColor = vec4(c, 1.0); }`;

  function program(gl) {
    const compile = (type, src) => {
      const s = gl.createShader(type);
      gl.shaderSource(s, src); gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
      return s;
    };
    const p = gl.createProgram();
    gl.attachShader(p, compile(gl.VERTEX_SHADER, VS)); gl.attachShader(p, compile(gl.FRAGMENT_SHADER, FS));
    gl.linkProgram(p);
    if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(p));
    return p;
  }

  function perspective(fov, aspect, near, far) {
    const f = 1 / Math.tan(fov / 2), nf = 1 / (near - far);
    return Float32Array.from([f / aspect, 0, 0, 0, 0, f, 0, 0, 0, 0, (far + near) * nf, -1, 0, 0, 2 * far * near * nf, 0]);
  }

  function rotation(yaw, pitch) {
    const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
    const ry = Float32Array.from([cy, 0, -sy, 0, 0, 1, 0, 0, sy, 0, cy, 0, 0, 0, 0, 1]);
    const rx = Float32Array.from([1, 0, 0, 0, 0, cp, sp, 0, 0, -sp, cp, 0, 0, 0, 0, 1]);
    return mul(rx, ry);
  }

  function show(canvas, url, fallback) {
    const useFallback = why => {
      canvas.hidden = true;
      canvas.dataset.state = "fallback";
      if (fallback) fallback.hidden = false;
      const note = document.getElementById("viewer-note");
      if (note) note.textContent = "3D view unavailable here (" + why + "); showing the thumbnail.";
    };
    const gl = canvas.getContext("webgl", {antialias: true}) || canvas.getContext("experimental-webgl");
    if (!gl || !url) { useFallback(url ? "no WebGL" : "no mesh"); return; }
    fetch(url, {credentials: "same-origin"}).then(r => {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.arrayBuffer();
    }).then(buffer => {
      const {json, bin} = parseGlb(buffer);
      const {pos, nor} = normalsAndFit(triangles(json, bin));
      const prog = program(gl);
      gl.useProgram(prog);
      const bind = (name, data) => {
        const b = gl.createBuffer(); gl.bindBuffer(gl.ARRAY_BUFFER, b); gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
        const loc = gl.getAttribLocation(prog, name); gl.enableVertexAttribArray(loc); gl.vertexAttribPointer(loc, 3, gl.FLOAT, false, 0, 0);
      };
      bind("p", pos); bind("n", nor);
      const uMvp = gl.getUniformLocation(prog, "mvp"), uModel = gl.getUniformLocation(prog, "model");
      let yaw = 0.7, pitch = 0.45, distance = 1.9;
      const render = () => {
        const w = canvas.clientWidth || 640, h = canvas.clientHeight || 480, dpr = window.devicePixelRatio || 1;
        if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
        gl.viewport(0, 0, canvas.width, canvas.height);
        gl.clearColor(0.93, 0.945, 0.937, 1); gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
        gl.enable(gl.DEPTH_TEST);
        const model = rotation(yaw, pitch);
        const viewM = Float32Array.from([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, -distance, 1]);
        const mvp = mul(perspective(0.8, canvas.width / canvas.height, 0.05, 20), mul(viewM, model));
        gl.uniformMatrix4fv(uMvp, false, mvp); gl.uniformMatrix4fv(uModel, false, model);
        gl.drawArrays(gl.TRIANGLES, 0, pos.length / 3);
      };
      const pointers = new Map();
      let pinch = null;
      canvas.addEventListener("pointerdown", e => { canvas.setPointerCapture(e.pointerId); pointers.set(e.pointerId, [e.clientX, e.clientY]); });
      canvas.addEventListener("pointerup", e => { pointers.delete(e.pointerId); pinch = null; });
      canvas.addEventListener("pointermove", e => {
        if (!pointers.has(e.pointerId)) return;
        const [px, py] = pointers.get(e.pointerId);
        pointers.set(e.pointerId, [e.clientX, e.clientY]);
        if (pointers.size === 2) {
          const [a, b] = [...pointers.values()], d = Math.hypot(a[0] - b[0], a[1] - b[1]);
          if (pinch) distance = Math.min(6, Math.max(0.6, distance * pinch / d));
          pinch = d;
        } else {
          yaw += (e.clientX - px) * 0.01;
          pitch = Math.max(-1.5, Math.min(1.5, pitch + (e.clientY - py) * 0.01));
        }
        requestAnimationFrame(render);
      });
      canvas.addEventListener("wheel", e => {
        e.preventDefault();
        distance = Math.min(6, Math.max(0.6, distance * (e.deltaY > 0 ? 1.1 : 0.9)));
        requestAnimationFrame(render);
      }, {passive: false});
      window.addEventListener("resize", () => requestAnimationFrame(render));
      render();
      canvas.dataset.state = "rendered";
      canvas.dataset.triangles = String(pos.length / 9);
    }).catch(err => useFallback(err.message));
  }

  return {show, parseGlb};
})();
