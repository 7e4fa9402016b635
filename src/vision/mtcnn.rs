//! Where faces may be: the three stages of MTCNN (P-Net over an image pyramid, R-Net and
//! O-Net on each candidate's crop), with the weights facenet-pytorch ships (MIT), converted to
//! ONNX in memory by our own code. They only *propose* regions; every box the pipeline reports
//! is then found by dlib's MMOD on an enlarged crop around the proposal, so boxes, landmarks and
//! embeddings stay dlib's. The arithmetic follows facenet-pytorch's `detect_face` (thresholds,
//! strides, box regression, squaring); docs/detection.md ("Finding faces: proposals, then MMOD").

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, ensure};
use ort::value::TensorRef;

use super::Rect;
use super::image::RgbImage;
use super::onnx::{self, Attr, Dim, Graph, Initializer, Node, ValueInfo};
use super::runtime::SessionPool;
use super::torch::{Tensor, read_state_dict};

/// Model files in the cache, pinned in `models/manifest.tsv`.
pub const PNET_PT: &str = "mtcnn/pnet.pt";
pub const RNET_PT: &str = "mtcnn/rnet.pt";
pub const ONET_PT: &str = "mtcnn/onet.pt";

/// P-Net sees 12x12 windows with a stride of 2.
const CELL: f32 = 12.0;
/// Largest first pyramid level (about 100 MB of float image while it runs).
const PNET_MAX_PIXELS: f32 = 8_000_000.0;
/// Input pixels of one network run. A larger P-Net level is run in strips of rows, R-Net's and
/// O-Net's candidates (a thousand in a large photo) in batches, so what ONNX Runtime allocates
/// for a run (about 200 to 260 bytes per input pixel: the first convolution's unrolled input,
/// its output and the activation's) stays near 30 MB whatever the photo.
const RUN_PIXELS: usize = 131_072;
/// facenet-pytorch's pyramid factor.
const FACTOR: f32 = 0.709;
/// R-Net's and O-Net's input sides.
const RNET_SIDE: usize = 24;
const ONET_SIDE: usize = 48;

/// How eager the proposer is. P-Net and R-Net keep facenet-pytorch's 0.6 and 0.7; O-Net's
/// 0.7 is lowered to 0.1 because MMOD confirms every proposal: a false proposal costs one small
/// MMOD run, a missed face is lost (on dlib's group photos scaled to 1000 and 1600 px, 0.7 lost
/// one face of 43; docs/detection.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub pnet: f32,
    pub rnet: f32,
    pub onet: f32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            pnet: 0.6,
            rnet: 0.7,
            onet: 0.1,
        }
    }
}

/// A square region that may hold a face, in photo pixels (corners, exclusive of nothing:
/// facenet-pytorch's float boxes), with O-Net's confidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Proposal {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
    pub score: f32,
}

impl Proposal {
    #[must_use]
    pub fn side(&self) -> f32 {
        (self.x2 - self.x1).max(self.y2 - self.y1)
    }

    /// The proposed square, its corners rounded to whole pixels.
    #[must_use]
    #[allow(clippy::cast_possible_truncation)]
    pub fn rect(&self) -> Rect {
        Rect::new(
            self.x1.round() as i64,
            self.y1.round() as i64,
            self.x2.round() as i64,
            self.y2.round() as i64,
        )
    }
}

/// The three networks, loaded once.
pub struct Proposer {
    pnet: SessionPool,
    rnet: SessionPool,
    onet: SessionPool,
    thresholds: Thresholds,
    /// [`RUN_PIXELS`] (tests change it).
    run_pixels: usize,
}

/// P-Net's image pyramid over one photo, for faces of at least `min_face` px: the levels'
/// scales (largest first, each [`FACTOR`] times the last, down to a 12 px short side), the
/// first level's image once a level has needed it, and each level's candidates once it has run.
pub struct Pyramid<'a> {
    img: &'a RgbImage,
    min_face: f32,
    scales: Vec<f32>,
    /// The first level's image (every other level is resampled from it) and its size.
    base: Option<(Vec<f32>, usize, usize)>,
    cands: Vec<Option<Vec<Cand>>>,
    /// What R-Net and O-Net said of the boxes they have seen.
    rnet_seen: HashMap<[u32; 4], Said>,
    onet_seen: HashMap<[u32; 4], Said>,
}

impl<'a> Pyramid<'a> {
    /// The levels that find faces of at least `min_face` px in `img`; nothing runs yet.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn new(img: &'a RgbImage, min_face: f32) -> Self {
        let (w, h) = (img.width, img.height);
        // The first level is at most PNET_MAX_PIXELS (only a smallest face under 12 px, set by
        // hand with no fraction, would ask for more).
        let m = (CELL / min_face.max(1.0)).min((PNET_MAX_PIXELS / (w * h).max(1) as f32).sqrt());
        let mut minl = w.min(h) as f32 * m;
        let mut scale = m;
        let mut scales = Vec::new();
        while minl >= CELL {
            scales.push(scale);
            scale *= FACTOR;
            minl *= FACTOR;
        }
        let cands = vec![None; scales.len()];
        Self {
            img,
            min_face,
            scales,
            base: None,
            cands,
            rnet_seen: HashMap::new(),
            onet_seen: HashMap::new(),
        }
    }
}

fn take<'a>(state: &'a [(String, Tensor)], name: &str, dims: &[i64]) -> anyhow::Result<&'a Tensor> {
    let t = state
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t)
        .with_context(|| format!("{name} missing from the state dict"))?;
    ensure!(
        t.dims == dims,
        "{name} has shape {:?}, expected {dims:?}",
        t.dims
    );
    Ok(t)
}

/// Builds a small feed-forward graph node by node.
struct Net {
    graph: Graph,
    cur: String,
    n: usize,
}

impl Net {
    fn new(name: &str, input: &str) -> Self {
        Self {
            graph: Graph {
                name: name.into(),
                ..Graph::default()
            },
            cur: input.into(),
            n: 0,
        }
    }

    fn init(&mut self, dims: Vec<i64>, data: Vec<f32>) -> String {
        self.n += 1;
        let name = format!("w{}", self.n);
        self.graph.initializers.push(Initializer {
            name: name.clone(),
            dims,
            data,
        });
        name
    }

    fn node(&mut self, op: &'static str, extra: Vec<String>, attrs: Vec<(&'static str, Attr)>) {
        self.n += 1;
        let out = format!("{}_{}", op.to_lowercase(), self.n);
        let mut inputs = vec![self.cur.clone()];
        inputs.extend(extra);
        self.graph.nodes.push(Node {
            op,
            name: out.clone(),
            inputs,
            outputs: vec![out.clone()],
            attrs,
        });
        self.cur = out;
    }

    /// Initializers for layer `name`'s weight (shape `dims`) and bias (one per output).
    fn weight_bias(
        &mut self,
        state: &[(String, Tensor)],
        name: &str,
        dims: &[i64],
    ) -> anyhow::Result<[String; 2]> {
        let w = take(state, &format!("{name}.weight"), dims)?;
        let b = take(state, &format!("{name}.bias"), &dims[..1])?;
        let (w, b) = (w.clone(), b.clone());
        Ok([self.init(w.dims, w.data), self.init(b.dims, b.data)])
    }

    fn conv(
        &mut self,
        state: &[(String, Tensor)],
        name: &str,
        dims: [i64; 4],
    ) -> anyhow::Result<()> {
        let [w, b] = self.weight_bias(state, name, &dims)?;
        self.node(
            "Conv",
            vec![w, b],
            vec![("kernel_shape", Attr::Ints(vec![dims[2], dims[3]]))],
        );
        Ok(())
    }

    /// PReLU over channels (`[C, 1, 1]` slopes for NCHW, `[C]` after a dense layer).
    fn prelu(
        &mut self,
        state: &[(String, Tensor)],
        name: &str,
        c: i64,
        spatial: bool,
    ) -> anyhow::Result<()> {
        let s = take(state, &format!("{name}.weight"), &[c])?.clone();
        let dims = if spatial { vec![c, 1, 1] } else { vec![c] };
        let s = self.init(dims, s.data);
        self.node("PRelu", vec![s], vec![]);
        Ok(())
    }

    fn pool(&mut self, k: i64) {
        self.node(
            "MaxPool",
            vec![],
            vec![
                ("kernel_shape", Attr::Ints(vec![k, k])),
                ("strides", Attr::Ints(vec![2, 2])),
                ("ceil_mode", Attr::Int(1)),
            ],
        );
    }

    fn dense(
        &mut self,
        state: &[(String, Tensor)],
        name: &str,
        out: i64,
        inp: i64,
    ) -> anyhow::Result<()> {
        let [w, b] = self.weight_bias(state, name, &[out, inp])?;
        self.node("Gemm", vec![w, b], vec![("transB", Attr::Int(1))]);
        Ok(())
    }

    /// The end of R-Net and O-Net: flatten in facenet-pytorch's (x, y, channel) order (its
    /// `permute(0, 3, 2, 1)` before `view`), a dense layer of `width` with its PReLU, then the
    /// face logit as `prob` `[N, 1]` and the box regression as `reg` `[N, 4]`. `names`: the
    /// dense layer, its PReLU, the two-way classifier, the regression.
    fn dense_heads(
        &mut self,
        state: &[(String, Tensor)],
        names: [&str; 4],
        width: i64,
        inputs: i64,
    ) -> anyhow::Result<()> {
        let [dense, prelu, class, reg] = names;
        self.node(
            "Transpose",
            vec![],
            vec![("perm", Attr::Ints(vec![0, 3, 2, 1]))],
        );
        self.node("Flatten", vec![], vec![("axis", Attr::Int(1))]);
        self.dense(state, dense, width, inputs)?;
        self.prelu(state, prelu, width, false)?;
        let trunk = self.cur.clone();
        let (w, b) = face_logit(
            take(state, &format!("{class}.weight"), &[2, width])?,
            take(state, &format!("{class}.bias"), &[2])?,
            usize::try_from(width)?,
        );
        let w = self.init(vec![1, width], w);
        let b = self.init(vec![1], b);
        self.node("Gemm", vec![w, b], vec![("transB", Attr::Int(1))]);
        self.node("Sigmoid", vec![], vec![]);
        self.output("prob", vec![Dim::Symbolic("N"), Dim::Fixed(1)])?;
        self.cur = trunk;
        self.dense(state, reg, 4, width)?;
        self.output("reg", vec![Dim::Symbolic("N"), Dim::Fixed(4)])
    }

    /// The serialised model, its input `image` of shape `dims`, converted from `file`.
    fn model(mut self, dims: Vec<Dim>, file: &str) -> Vec<u8> {
        self.graph.inputs.push(ValueInfo {
            name: "image".into(),
            dims,
        });
        onnx::model(
            &self.graph,
            &[("source", format!("facenet-pytorch 2.6.0 {file} (MIT)"))],
        )
    }

    /// [`Net::model`] for a crop network: input `[N, 3, side, side]`.
    fn crop_model(self, side: usize, file: &str) -> Vec<u8> {
        let side = i64::try_from(side).unwrap_or(i64::MAX);
        let dims = vec![
            Dim::Symbolic("N"),
            Dim::Fixed(3),
            Dim::Fixed(side),
            Dim::Fixed(side),
        ];
        self.model(dims, file)
    }

    /// Rename the current output to a graph output.
    fn output(&mut self, name: &str, dims: Vec<Dim>) -> anyhow::Result<()> {
        let last = self.graph.nodes.last_mut().context("empty graph")?;
        last.outputs = vec![name.into()];
        self.graph.outputs.push(ValueInfo {
            name: name.into(),
            dims,
        });
        Ok(())
    }
}

/// Two-way softmax's second probability as one logit: `sigmoid((w1 - w0) x + b1 - b0)`.
fn face_logit(w: &Tensor, b: &Tensor, inputs: usize) -> (Vec<f32>, Vec<f32>) {
    let w: Vec<f32> = (0..inputs)
        .map(|i| w.data[inputs + i] - w.data[i])
        .collect();
    (w, vec![b.data[1] - b.data[0]])
}

/// P-Net as ONNX: `image` `[1, 3, H, W]` normalised as `(v - 127.5) / 128`, out `prob`
/// `[1, 1, h, w]` (face probability per 12x12 window, stride 2) and `reg` `[1, 4, h, w]`.
pub fn pnet_to_onnx(pt: &[u8]) -> anyhow::Result<Vec<u8>> {
    let state = read_state_dict(pt)?;
    let mut n = Net::new("mtcnn_pnet", "image");
    n.conv(&state, "conv1", [10, 3, 3, 3])?;
    n.prelu(&state, "prelu1", 10, true)?;
    n.pool(2);
    n.conv(&state, "conv2", [16, 10, 3, 3])?;
    n.prelu(&state, "prelu2", 16, true)?;
    n.conv(&state, "conv3", [32, 16, 3, 3])?;
    n.prelu(&state, "prelu3", 32, true)?;
    let trunk = n.cur.clone();
    let (w, b) = face_logit(
        take(&state, "conv4_1.weight", &[2, 32, 1, 1])?,
        take(&state, "conv4_1.bias", &[2])?,
        32,
    );
    let w = n.init(vec![1, 32, 1, 1], w);
    let b = n.init(vec![1], b);
    n.node(
        "Conv",
        vec![w, b],
        vec![("kernel_shape", Attr::Ints(vec![1, 1]))],
    );
    n.node("Sigmoid", vec![], vec![]);
    let map = |c| {
        vec![
            Dim::Fixed(1),
            Dim::Fixed(c),
            Dim::Symbolic("h"),
            Dim::Symbolic("w"),
        ]
    };
    n.output("prob", map(1))?;
    n.cur = trunk;
    n.conv(&state, "conv4_2", [4, 32, 1, 1])?;
    n.output("reg", map(4))?;
    ensure!(
        state.len() == 13,
        "P-Net has {} tensors, expected 13",
        state.len()
    );
    let dims = vec![
        Dim::Fixed(1),
        Dim::Fixed(3),
        Dim::Symbolic("H"),
        Dim::Symbolic("W"),
    ];
    Ok(n.model(dims, "pnet.pt"))
}

/// R-Net as ONNX: `image` `[N, 3, 24, 24]` normalised as for P-Net, out `prob` `[N, 1]` and
/// `reg` `[N, 4]`.
pub fn rnet_to_onnx(pt: &[u8]) -> anyhow::Result<Vec<u8>> {
    let state = read_state_dict(pt)?;
    let mut n = Net::new("mtcnn_rnet", "image");
    n.conv(&state, "conv1", [28, 3, 3, 3])?;
    n.prelu(&state, "prelu1", 28, true)?;
    n.pool(3);
    n.conv(&state, "conv2", [48, 28, 3, 3])?;
    n.prelu(&state, "prelu2", 48, true)?;
    n.pool(3);
    n.conv(&state, "conv3", [64, 48, 2, 2])?;
    n.prelu(&state, "prelu3", 64, true)?;
    n.dense_heads(
        &state,
        ["dense4", "prelu4", "dense5_1", "dense5_2"],
        128,
        576,
    )?;
    ensure!(
        state.len() == 16,
        "R-Net has {} tensors, expected 16",
        state.len()
    );
    Ok(n.crop_model(RNET_SIDE, "rnet.pt"))
}

/// O-Net as ONNX: `image` `[N, 3, 48, 48]` normalised as for P-Net, out `prob` `[N, 1]` and
/// `reg` `[N, 4]` (its five landmarks are not used).
pub fn onet_to_onnx(pt: &[u8]) -> anyhow::Result<Vec<u8>> {
    let state = read_state_dict(pt)?;
    let mut n = Net::new("mtcnn_onet", "image");
    n.conv(&state, "conv1", [32, 3, 3, 3])?;
    n.prelu(&state, "prelu1", 32, true)?;
    n.pool(3);
    n.conv(&state, "conv2", [64, 32, 3, 3])?;
    n.prelu(&state, "prelu2", 64, true)?;
    n.pool(3);
    n.conv(&state, "conv3", [64, 64, 3, 3])?;
    n.prelu(&state, "prelu3", 64, true)?;
    n.pool(2);
    n.conv(&state, "conv4", [128, 64, 2, 2])?;
    n.prelu(&state, "prelu4", 128, true)?;
    n.dense_heads(
        &state,
        ["dense5", "prelu5", "dense6_1", "dense6_2"],
        256,
        1152,
    )?;
    take(&state, "dense6_3.weight", &[10, 256])?;
    ensure!(
        state.len() == 21,
        "O-Net has {} tensors, expected 21",
        state.len()
    );
    Ok(n.crop_model(ONET_SIDE, "onet.pt"))
}

/// Area (box-filter) resampling of an interleaved RGB float image, as PyTorch's
/// `interpolate(mode="area")`: output pixel `i` averages input `[floor(i n / m), ceil((i+1) n / m))`.
fn area_resize<T: Copy + Into<f32>>(
    src: &[T],
    w: usize,
    h: usize,
    ow: usize,
    oh: usize,
) -> Vec<f32> {
    let spans = |n: usize, m: usize| -> Vec<(usize, usize)> {
        (0..m)
            .map(|i| {
                let a = i * n / m;
                let b = ((i + 1) * n).div_ceil(m).max(a + 1).min(n);
                (a, b)
            })
            .collect()
    };
    let (xs, ys) = (spans(w, ow), spans(h, oh));
    // Rows first: each output row is the mean of its input rows.
    let mut rows = vec![0f32; oh * w * 3];
    for (oy, &(a, b)) in ys.iter().enumerate() {
        let dst = &mut rows[oy * w * 3..][..w * 3];
        for y in a..b {
            for (d, s) in dst.iter_mut().zip(&src[y * w * 3..][..w * 3]) {
                *d += (*s).into();
            }
        }
        #[allow(clippy::cast_precision_loss)]
        let inv = 1.0 / (b - a) as f32;
        dst.iter_mut().for_each(|v| *v *= inv);
    }
    let mut out = vec![0f32; oh * ow * 3];
    for oy in 0..oh {
        let row = &rows[oy * w * 3..][..w * 3];
        for (ox, &(a, b)) in xs.iter().enumerate() {
            let mut acc = [0f32; 3];
            for x in a..b {
                for c in 0..3 {
                    acc[c] += row[x * 3 + c];
                }
            }
            #[allow(clippy::cast_precision_loss)]
            let inv = 1.0 / (b - a) as f32;
            for c in 0..3 {
                out[(oy * ow + ox) * 3 + c] = acc[c] * inv;
            }
        }
    }
    out
}

/// Interleaved RGB -> planar, normalised as MTCNN was trained: `(v - 127.5) / 128`.
fn planar(src: &[f32], pixels: usize, dst: &mut Vec<f32>) {
    let base = dst.len();
    dst.resize(base + 3 * pixels, 0.0);
    for c in 0..3 {
        for i in 0..pixels {
            dst[base + c * pixels + i] = (src[i * 3 + c] - 127.5) * 0.007_812_5;
        }
    }
}

/// A candidate box with its score and P-Net/R-Net regression.
#[derive(Debug, Clone, Copy)]
struct Cand {
    b: [f32; 4],
    score: f32,
    reg: [f32; 4],
}

/// What R-Net or O-Net said of a candidate's crop: its score and box regression.
#[derive(Debug, Clone, Copy)]
struct Said {
    score: f32,
    reg: [f32; 4],
}

/// A candidate's box, bit for bit: the crop R-Net or O-Net sees is a function of it.
fn key(c: &Cand) -> [u32; 4] {
    c.b.map(f32::to_bits)
}

/// torchvision's `nms` (IoU over areas without the +1): the candidates kept, highest score
/// first.
fn nms(c: &mut Vec<Cand>, iou: f32) {
    c.sort_by(|a, b| b.score.total_cmp(&a.score));
    let area = |b: &[f32; 4]| (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0);
    let mut keep: Vec<Cand> = Vec::with_capacity(c.len());
    for cand in c.drain(..) {
        let overlaps = keep.iter().any(|k| {
            let w = (k.b[2].min(cand.b[2]) - k.b[0].max(cand.b[0])).max(0.0);
            let h = (k.b[3].min(cand.b[3]) - k.b[1].max(cand.b[1])).max(0.0);
            let inter = w * h;
            let union = area(&k.b) + area(&cand.b) - inter;
            union > 0.0 && inter / union > iou
        });
        if !overlaps {
            keep.push(cand);
        }
    }
    *c = keep;
}

/// One run of a proposal network: its `prob` and `reg` outputs and `prob`'s shape.
fn run(
    net: &SessionPool,
    shape: [usize; 4],
    input: &[f32],
) -> anyhow::Result<(Vec<f32>, Vec<f32>, Vec<i64>)> {
    net.with(|s| -> anyhow::Result<_> {
        let t = TensorRef::from_array_view((shape, input))
            .map_err(|e| anyhow::anyhow!("proposal network input: {e}"))?;
        let out = s
            .run(ort::inputs![t])
            .map_err(|e| anyhow::anyhow!("running a proposal network: {e}"))?;
        let (dims, prob) = out["prob"]
            .try_extract_tensor::<f32>()
            .map_err(|e| anyhow::anyhow!("proposal network prob: {e}"))?;
        let (_, reg) = out["reg"]
            .try_extract_tensor::<f32>()
            .map_err(|e| anyhow::anyhow!("proposal network reg: {e}"))?;
        Ok((prob.to_vec(), reg.to_vec(), dims.to_vec()))
    })
}

/// A candidate's box moved by its regression, each side by its share of the box's width or
/// height plus `extra` (facenet-pytorch adds 1 after R-Net and O-Net, not after P-Net).
fn regressed(c: &Cand, extra: f32) -> [f32; 4] {
    let (bw, bh) = (c.b[2] - c.b[0] + extra, c.b[3] - c.b[1] + extra);
    [
        c.b[0] + c.reg[0] * bw,
        c.b[1] + c.reg[1] * bh,
        c.b[2] + c.reg[2] * bw,
        c.b[3] + c.reg[3] * bh,
    ]
}

/// facenet-pytorch's `rerec`: the square of the longer side around the box's centre.
fn square(b: [f32; 4]) -> [f32; 4] {
    let (w, h) = (b[2] - b[0], b[3] - b[1]);
    let l = w.max(h);
    let x1 = b[0] + w * 0.5 - l * 0.5;
    let y1 = b[1] + h * 0.5 - l * 0.5;
    [x1, y1, x1 + l, y1 + l]
}

impl Proposer {
    /// Read, check and convert the three networks (`runtime::init` must have run).
    pub fn load(
        models_dir: &Path,
        sessions: usize,
        intra_threads: usize,
        thresholds: Thresholds,
    ) -> anyhow::Result<Self> {
        let read = |file: &str| -> anyhow::Result<Vec<u8>> {
            let path = super::models::verified(models_dir, file)?;
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
        };
        let pnet = pnet_to_onnx(&read(PNET_PT)?).context("converting P-Net")?;
        let rnet = rnet_to_onnx(&read(RNET_PT)?).context("converting R-Net")?;
        let onet = onet_to_onnx(&read(ONET_PT)?).context("converting O-Net")?;
        Ok(Self {
            pnet: SessionPool::from_memory(&pnet, sessions, intra_threads)?,
            rnet: SessionPool::from_memory(&rnet, sessions, intra_threads)?,
            onet: SessionPool::from_memory(&onet, sessions, intra_threads)?,
            thresholds,
            run_pixels: RUN_PIXELS,
        })
    }

    /// Regions of `img` that may hold a face at least `min_face` px wide, most likely first.
    pub fn propose(&self, img: &RgbImage, min_face: f32) -> anyhow::Result<Vec<Proposal>> {
        let mut pyramid = Pyramid::new(img, min_face);
        self.propose_from(&mut pyramid, min_face)
    }

    /// Regions of the pyramid's photo that may hold a face at least `smallest` px wide, most
    /// likely first: P-Net on the levels whose 12 px window is a face of at least [`FACTOR`]
    /// times `smallest` (every level when `smallest` is the pyramid's own smallest face), then
    /// R-Net and O-Net on its candidates. A level that has run keeps its candidates, and R-Net
    /// and O-Net what they said of each box, so a search for large faces costs a later search
    /// for smaller ones only R-Net and O-Net on the boxes the first did not see.
    pub fn propose_from(
        &self,
        pyramid: &mut Pyramid<'_>,
        smallest: f32,
    ) -> anyhow::Result<Vec<Proposal>> {
        let Pyramid { img, .. } = *pyramid;
        let (w, h) = (img.width, img.height);
        if w < 12 || h < 12 {
            return Ok(Vec::new());
        }
        let mut cands = Vec::new();
        for k in 0..pyramid.scales.len() {
            if smallest > pyramid.min_face && CELL / pyramid.scales[k] < smallest * FACTOR {
                continue;
            }
            cands.extend_from_slice(self.level(pyramid, k)?);
        }
        nms(&mut cands, 0.7);
        for c in &mut cands {
            c.b = square(regressed(c, 0.0));
        }
        if cands.is_empty() {
            return Ok(Vec::new());
        }
        let full = img.data.as_slice();
        self.stage(
            full,
            w,
            h,
            &mut cands,
            &self.rnet,
            RNET_SIDE,
            self.thresholds.rnet,
            &mut pyramid.rnet_seen,
        )?;
        self.stage(
            full,
            w,
            h,
            &mut cands,
            &self.onet,
            ONET_SIDE,
            self.thresholds.onet,
            &mut pyramid.onet_seen,
        )?;
        Ok(cands
            .into_iter()
            .map(|c| Proposal {
                x1: c.b[0],
                y1: c.b[1],
                x2: c.b[2],
                y2: c.b[3],
                score: c.score,
            })
            .collect())
    }

    /// P-Net's candidates on level `k` of the pyramid, merged at IoU 0.5 (run once).
    fn level<'p>(&self, pyramid: &'p mut Pyramid<'_>, k: usize) -> anyhow::Result<&'p [Cand]> {
        if pyramid.cands[k].is_none() {
            let cands = self.run_level(pyramid, k)?;
            pyramid.cands[k] = Some(cands);
        }
        Ok(pyramid.cands[k].as_deref().unwrap_or_default())
    }

    /// P-Net on level `k` of the pyramid, resampled from its first level.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_precision_loss,
        clippy::cast_sign_loss
    )]
    fn run_level(&self, pyramid: &mut Pyramid<'_>, k: usize) -> anyhow::Result<Vec<Cand>> {
        let img = pyramid.img;
        let (w, h, full) = (img.width, img.height, img.data.as_slice());
        let scale = pyramid.scales[k];
        let (hs, ws) = (
            (h as f32 * scale + 1.0) as usize,
            (w as f32 * scale + 1.0) as usize,
        );
        // Each level is resampled from the first, not the photo.
        let base = pyramid.base.get_or_insert_with(|| {
            let s = pyramid.scales[0];
            let (bh, bw) = ((h as f32 * s + 1.0) as usize, (w as f32 * s + 1.0) as usize);
            (area_resize(full, w, h, bw, bh), bw, bh)
        });
        let level = match base {
            (src, bw, bh) if k == 0 => {
                debug_assert!(*bw == ws && *bh == hs);
                Cow::Borrowed(src.as_slice())
            }
            (src, bw, bh) if ws <= *bw && hs <= *bh => {
                Cow::Owned(area_resize(src.as_slice(), *bw, *bh, ws, hs))
            }
            _ => Cow::Owned(area_resize(full, w, h, ws, hs)),
        };
        self.pnet_level(&level, ws, hs, scale)
    }

    /// P-Net over one `ws` x `hs` level (interleaved RGB floats) at `scale`: its candidates in
    /// photo pixels, merged at IoU 0.5.
    #[allow(clippy::cast_precision_loss)]
    fn pnet_level(
        &self,
        level: &[f32],
        ws: usize,
        hs: usize,
        scale: f32,
    ) -> anyhow::Result<Vec<Cand>> {
        let mut level_cands = Vec::new();
        let mut input = Vec::new();
        // Output row i sees input rows 2i..2i+12. A strip of input rows from 2 * i0 gives
        // exactly output rows i0.. (even start: the pooling windows stay aligned; the last
        // strip ends where the level ends, as the whole level does).
        let out_rows = (hs - 2).div_ceil(2).saturating_sub(4);
        let strip_rows = ((self.run_pixels / ws).saturating_sub(10) / 2).max(1);
        let mut i0 = 0;
        while i0 < out_rows {
            let (r0, r1) = (2 * i0, (2 * i0 + 2 * strip_rows + 10).min(hs));
            input.clear();
            planar(&level[r0 * ws * 3..r1 * ws * 3], ws * (r1 - r0), &mut input);
            let (prob, reg, shape) = run(&self.pnet, [1, 3, r1 - r0, ws], &input)?;
            ensure!(shape.len() == 4, "P-Net output shape {shape:?}");
            let (oh, ow) = (usize::try_from(shape[2])?, usize::try_from(shape[3])?);
            let plane = oh * ow;
            ensure!(
                oh == strip_rows.min(out_rows - i0)
                    && prob.len() == plane
                    && reg.len() == 4 * plane,
                "P-Net output sizes"
            );
            for y in 0..oh {
                for x in 0..ow {
                    let i = y * ow + x;
                    if prob[i] < self.thresholds.pnet {
                        continue;
                    }
                    let (fx, fy) = (x as f32, (i0 + y) as f32);
                    level_cands.push(Cand {
                        b: [
                            ((2.0 * fx + 1.0) / scale).floor(),
                            ((2.0 * fy + 1.0) / scale).floor(),
                            ((2.0 * fx + CELL) / scale).floor(),
                            ((2.0 * fy + CELL) / scale).floor(),
                        ],
                        score: prob[i],
                        reg: [
                            reg[i],
                            reg[plane + i],
                            reg[2 * plane + i],
                            reg[3 * plane + i],
                        ],
                    });
                }
            }
            i0 += strip_rows;
        }
        nms(&mut level_cands, 0.5);
        Ok(level_cands)
    }

    /// R-Net (24x24) or O-Net (48x48) on each candidate's crop: the survivors, refined and
    /// squared. A box in `seen` is not run again; every box run is added to it.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_precision_loss,
        clippy::cast_sign_loss
    )]
    #[allow(clippy::too_many_arguments)]
    fn stage(
        &self,
        full: &[u8],
        w: usize,
        h: usize,
        cands: &mut Vec<Cand>,
        net: &SessionPool,
        side: usize,
        threshold: f32,
        seen: &mut HashMap<[u32; 4], Said>,
    ) -> anyhow::Result<()> {
        // What the network said of each candidate: a box it has seen in this photo (a search
        // for large faces, then one for smaller) is not run again.
        let mut said: Vec<Option<Said>> =
            cands.iter().map(|c| seen.get(&key(c)).copied()).collect();
        // facenet-pytorch's `pad`: truncated corners, 1-based, clipped to the photo; the crop
        // is rows y-1..ey, columns x-1..ex (resampled as it is, not padded).
        let unseen: Vec<usize> = (0..cands.len()).filter(|&i| said[i].is_none()).collect();
        let crops = unseen.into_iter().filter_map(|i| {
            let c = &cands[i];
            let x = (c.b[0] as i64).max(1);
            let y = (c.b[1] as i64).max(1);
            let ex = (c.b[2] as i64).min(w as i64);
            let ey = (c.b[3] as i64).min(h as i64);
            if ex < x || ey < y {
                return None;
            }
            let (x0, y0) = ((x - 1) as usize, (y - 1) as usize);
            let (cw, ch) = (ex as usize - x0, ey as usize - y0);
            let mut crop = Vec::with_capacity(cw * ch * 3);
            for row in y0..y0 + ch {
                crop.extend_from_slice(&full[(row * w + x0) * 3..][..cw * 3]);
            }
            Some((i, area_resize(&crop, cw, ch, side, side)))
        });
        // Batches of at most `run_pixels` input pixels (RUN_PIXELS).
        let batch = (self.run_pixels / (side * side)).max(1);
        let mut input = Vec::with_capacity(batch.min(cands.len()) * 3 * side * side);
        let mut kept: Vec<usize> = Vec::with_capacity(batch.min(cands.len()));
        let mut crops = crops.peekable();
        while crops.peek().is_some() {
            input.clear();
            kept.clear();
            for (i, small) in crops.by_ref().take(batch) {
                planar(&small, side * side, &mut input);
                kept.push(i);
            }
            let n = kept.len();
            let (prob, reg, _) = run(net, [n, 3, side, side], &input)?;
            ensure!(
                prob.len() == n && reg.len() == 4 * n,
                "refining net output sizes"
            );
            for (j, &i) in kept.iter().enumerate() {
                let out = Said {
                    score: prob[j],
                    reg: [reg[4 * j], reg[4 * j + 1], reg[4 * j + 2], reg[4 * j + 3]],
                };
                said[i] = Some(out);
                seen.insert(key(&cands[i]), out);
            }
        }
        let mut pass: Vec<Cand> = cands
            .iter()
            .zip(said)
            .filter_map(|(c, said)| {
                said.filter(|s| s.score > threshold).map(|s| Cand {
                    b: c.b,
                    score: s.score,
                    reg: s.reg,
                })
            })
            .collect();
        nms(&mut pass, 0.7);
        for c in &mut pass {
            c.b = square(regressed(c, 1.0));
        }
        *cands = pass;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::{decode, testdata};

    /// The proposer (one session, two threads) and obama.jpg, decoded as an upload is.
    fn proposer_and_obama() -> (Proposer, RgbImage) {
        testdata::init_runtime();
        let cache = testdata::cache_dir();
        let p = Proposer::load(&cache.join("models"), 1, 2, Thresholds::default())
            .unwrap_or_else(|e| panic!("{e:#}"));
        let jpeg = std::fs::read(cache.join("testdata/face_recognition/obama.jpg"))
            .unwrap_or_else(|e| panic!("{e}"));
        let img =
            decode::decode(&jpeg, &decode::Limits::default()).unwrap_or_else(|e| panic!("{e}"));
        (p, img)
    }

    #[test]
    fn networks_run_in_strips_and_batches_propose_what_whole_runs_propose() {
        let (mut p, img) = proposer_and_obama();
        let mut run = |pixels| {
            p.run_pixels = pixels;
            let mut pyramid = Pyramid::new(&img, 20.0);
            let mut first = Vec::new();
            for k in 0..pyramid.scales.len() {
                let level = p.level(&mut pyramid, k).unwrap_or_else(|e| panic!("{e:#}"));
                first.extend_from_slice(level);
            }
            let proposals = p.propose(&img, 20.0).unwrap_or_else(|e| panic!("{e:#}"));
            (first, proposals)
        };
        let (whole, proposed) = run(usize::MAX);
        assert!(whole.len() > 100, "{} P-Net candidates", whole.len());
        assert!(!proposed.is_empty());
        // P-Net's first level is about 550 px wide: strips of about 10 output rows and of one
        // (the last strip of each level ends at the level's edge, whatever its height); R-Net
        // and O-Net in batches of 28 and 7, and of 10 and 2.
        for pixels in [30 * 546, 11 * 546] {
            let (first, got) = run(pixels);
            assert_eq!(first.len(), whole.len(), "{pixels} px per run");
            for (a, b) in first.iter().zip(&whole) {
                assert_eq!(a.b, b.b, "{pixels} px per run");
                assert!(
                    (a.score - b.score).abs() < 1e-5,
                    "{} vs {}",
                    a.score,
                    b.score
                );
            }
            assert_eq!(got.len(), proposed.len(), "{pixels} px per run");
            for (a, b) in got.iter().zip(&proposed) {
                let moved = [a.x1 - b.x1, a.y1 - b.y1, a.x2 - b.x2, a.y2 - b.y2];
                assert!(moved.iter().all(|d| d.abs() < 1e-3), "{a:?} vs {b:?}");
            }
        }
    }

    /// A search for large faces, then one for smaller faces on the same pyramid, proposes what
    /// the second search alone proposes; the second does not ask R-Net again about a box the
    /// first asked about (what R-Net said is taken as said: told "no face" to every box seen,
    /// the same search then proposes nothing).
    #[test]
    fn a_second_search_reuses_what_the_networks_said() {
        let (p, img) = proposer_and_obama();
        let alone = p.propose(&img, 20.0).unwrap_or_else(|e| panic!("{e:#}"));
        let mut pyramid = Pyramid::new(&img, 20.0);
        let large = p
            .propose_from(&mut pyramid, 114.0)
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert!(!large.is_empty());
        let seen = pyramid.rnet_seen.len();
        assert!(seen > 0);
        let then = p
            .propose_from(&mut pyramid, 20.0)
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert!(pyramid.rnet_seen.len() > seen);
        assert_eq!(then, alone);

        let mut pyramid = Pyramid::new(&img, 20.0);
        p.propose_from(&mut pyramid, 114.0)
            .unwrap_or_else(|e| panic!("{e:#}"));
        for said in pyramid.rnet_seen.values_mut() {
            said.score = 0.0;
        }
        let told = p
            .propose_from(&mut pyramid, 114.0)
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert!(told.is_empty(), "{told:?}");
    }

    #[test]
    fn area_resize_averages_blocks() {
        // 4x2 -> 2x1: each output pixel is the mean of a 2x2 block.
        let src: Vec<f32> = (0..8).flat_map(|i| [i as f32, 0.0, 255.0]).collect();
        let out = area_resize(&src, 4, 2, 2, 1);
        assert_eq!(out, vec![2.5, 0.0, 255.0, 4.5, 0.0, 255.0]);
        // Same size is the identity.
        assert_eq!(area_resize(&src, 4, 2, 4, 2), src);
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes() {
        let c = |x: f32, s: f32| Cand {
            b: [x, 0.0, x + 10.0, 10.0],
            score: s,
            reg: [0.0; 4],
        };
        let mut v = vec![c(0.0, 0.5), c(1.0, 0.9), c(30.0, 0.7)];
        nms(&mut v, 0.5);
        let xs: Vec<f32> = v.iter().map(|c| c.b[0]).collect();
        assert_eq!(xs, vec![1.0, 30.0]);
    }
}
