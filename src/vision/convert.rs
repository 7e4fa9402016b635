//! dlib's face-recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat`) to ONNX.
//!
//! The stream is parsed exactly as laid out in `docs/dlib-formats.md` (sections 2 and 3):
//! loss payload, one header per wrapper from the top down, the input layer, then each layer's
//! payload from the input up. The topology (which tag an add refers to, where a skip jumps) is
//! not in the file; it is the fixed unit sequence below, and every version string, header and
//! shape is checked against it. Each `affine_` is folded into the convolution before it.
//! The graph takes raw RGB pixel values (0-255, NCHW) and normalises them itself with the
//! file's channel means and dlib's `/256`, so callers cannot get the preprocessing wrong.

use std::path::Path;

use anyhow::{Context, bail, ensure};
use sha2::{Digest, Sha256};

use super::dlib::Reader;
use super::onnx::{Attr, Dim, Graph, Initializer, IntInitializer, Node, ValueInfo};

/// Input and output names of the converted graph.
pub const INPUT: &str = "pixels";
pub const OUTPUT: &str = "embedding";
/// Sum of every layer's parameter count in the file (docs/dlib-formats.md 3.4).
const RESNET_PARAMS: usize = 5_614_592;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wrapper {
    Fc,
    GlobalAvgPool,
    AvgPool,
    MaxPool,
    Relu,
    AddPrev(u8),
    Conv,
    Affine,
    Tag(u8),
    Skip(u8),
}

use Wrapper::{Affine, AvgPool, Conv, Fc, GlobalAvgPool, MaxPool, Relu};

/// Residual unit, top down (docs/dlib-formats.md 3.2).
const R_UNIT: [Wrapper; 8] = [
    Relu,
    Wrapper::AddPrev(1),
    Affine,
    Conv,
    Relu,
    Affine,
    Conv,
    Wrapper::Tag(1),
];
/// Down-sampling unit, top down.
const D_UNIT: [Wrapper; 11] = [
    Relu,
    Wrapper::AddPrev(2),
    AvgPool,
    Wrapper::Skip(1),
    Wrapper::Tag(2),
    Affine,
    Conv,
    Relu,
    Affine,
    Conv,
    Wrapper::Tag(1),
];

/// All 130 wrappers from the top (next to the loss) to the bottom (next to the input).
fn topology() -> Vec<Wrapper> {
    let mut w = vec![Fc, GlobalAvgPool];
    // level0 = [D]; level1 = [R,R,D]; level2 = [R,R,D]; level3 = [R,R,R,D]; level4 = [R,R,R].
    let levels: [&[char]; 5] = [
        &['D'],
        &['R', 'R', 'D'],
        &['R', 'R', 'D'],
        &['R', 'R', 'R', 'D'],
        &['R', 'R', 'R'],
    ];
    for level in levels {
        for unit in level {
            w.extend_from_slice(if *unit == 'R' { &R_UNIT } else { &D_UNIT });
        }
    }
    w.extend_from_slice(&[MaxPool, Relu, Affine, Conv]);
    w
}

/// Shape of a tensor in the graph (channels, rows, cols; batch is symbolic).
type Shape = [i64; 3];

struct Builder {
    graph: Graph,
    /// Name and shape of the current output.
    cur: (String, Shape),
    tags: [Option<(String, Shape)>; 3],
    /// Index of the last conv's initializers, for folding the following affine.
    last_conv: Option<(usize, usize)>,
    counter: usize,
    params: usize,
}

impl Builder {
    fn fresh(&mut self, what: &str) -> String {
        self.counter += 1;
        format!("{what}_{}", self.counter)
    }

    fn push(
        &mut self,
        op: &'static str,
        inputs: Vec<String>,
        attrs: Vec<(&'static str, Attr)>,
        shape: Shape,
    ) {
        let out = self.fresh(&op.to_lowercase());
        self.graph.nodes.push(Node {
            op,
            name: out.clone(),
            inputs,
            outputs: vec![out.clone()],
            attrs,
        });
        self.cur = (out, shape);
    }

    fn conv(&mut self, r: &mut Reader<'_>) -> anyhow::Result<()> {
        r.expect_string("con_4")?;
        self.conv_body(r)
    }

    /// A `con_4` payload after its version string.
    fn conv_body(&mut self, r: &mut Reader<'_>) -> anyhow::Result<()> {
        let params = r.tensor()?;
        let filters = r.int()?;
        let (kh, kw) = (r.int()?, r.int()?);
        let (sy, sx) = (r.int()?, r.int()?);
        let (py, px) = (r.int()?, r.int()?);
        let fshape = r.alias_tensor()?;
        let bshape = r.alias_tensor()?;
        for _ in 0..4 {
            r.float()?; // learning-rate and weight-decay multipliers
        }
        let [c, h, w] = self.cur.1;
        ensure!(
            fshape == [filters, c, kh, kw],
            "conv filter shape {fshape:?} does not fit input {:?}",
            self.cur.1
        );
        ensure!(bshape == [1, filters, 1, 1], "conv bias shape {bshape:?}");
        ensure!(
            sy > 0 && sx > 0 && py >= 0 && px >= 0,
            "bad conv stride/padding"
        );
        let nw = usize::try_from(filters * c * kh * kw)?;
        let nb = usize::try_from(filters)?;
        ensure!(
            params.data.len() == nw + nb,
            "conv params: {} floats, expected {}",
            params.data.len(),
            nw + nb
        );
        self.params += params.data.len();
        let wname = self.fresh("conv_w");
        let bname = self.fresh("conv_b");
        self.graph.initializers.push(Initializer {
            name: wname.clone(),
            dims: vec![filters, c, kh, kw],
            data: params.data[..nw].to_vec(),
        });
        self.graph.initializers.push(Initializer {
            name: bname.clone(),
            dims: vec![filters],
            data: params.data[nw..].to_vec(),
        });
        self.last_conv = Some((
            self.graph.initializers.len() - 2,
            self.graph.initializers.len() - 1,
        ));
        let oh = (h + 2 * py - kh) / sy + 1;
        let ow = (w + 2 * px - kw) / sx + 1;
        ensure!(oh > 0 && ow > 0, "conv output would be empty");
        let input = self.cur.0.clone();
        self.push(
            "Conv",
            vec![input, wname, bname],
            vec![
                ("kernel_shape", Attr::Ints(vec![kh, kw])),
                ("strides", Attr::Ints(vec![sy, sx])),
                ("pads", Attr::Ints(vec![py, px, py, px])),
            ],
            [filters, oh, ow],
        );
        Ok(())
    }

    /// `y = gamma * x + beta` per channel, folded into the preceding conv in float32.
    fn affine(&mut self, r: &mut Reader<'_>) -> anyhow::Result<()> {
        r.expect_string("affine_")?;
        let params = r.tensor()?;
        let gamma = r.alias_tensor()?;
        let beta = r.alias_tensor()?;
        r.expect_int(0, "affine mode (per channel)")?;
        let c = self.cur.1[0];
        ensure!(
            gamma == [1, c, 1, 1] && beta == [1, c, 1, 1],
            "affine shapes {gamma:?} {beta:?} for {c} channels"
        );
        let c = usize::try_from(c)?;
        ensure!(params.data.len() == 2 * c, "affine params");
        self.params += params.data.len();
        let (g, b) = params.data.split_at(c);
        self.fold(g, b)
    }

    /// `bn_con2` (batch norm in conv mode), folded into the preceding conv the way dlib turns
    /// it into an affine layer at inference: `A = gamma / sqrt(running_var + eps)`,
    /// `B = beta - A * running_mean`, in float32 (docs/dlib-formats.md 2.3).
    fn bn_con(&mut self, r: &mut Reader<'_>) -> anyhow::Result<()> {
        r.expect_string("bn_con2")?;
        let params = r.tensor()?;
        let gamma = r.alias_tensor()?;
        let beta = r.alias_tensor()?;
        let _batch_means = r.tensor()?;
        let _batch_invstds = r.tensor()?;
        let running_means = r.tensor()?;
        let running_variances = r.tensor()?;
        r.uint()?; // num_updates
        r.uint()?; // running_stats_window_size
        for _ in 0..4 {
            r.float()?; // learning-rate and weight-decay multipliers
        }
        #[allow(clippy::cast_possible_truncation)]
        let eps = r.float()? as f32;
        let c = self.cur.1[0];
        ensure!(
            gamma == [1, c, 1, 1] && beta == [1, c, 1, 1],
            "bn shapes {gamma:?} {beta:?} for {c} channels"
        );
        let c = usize::try_from(c)?;
        ensure!(
            params.data.len() == 2 * c
                && running_means.data.len() == c
                && running_variances.data.len() == c,
            "bn parameter sizes"
        );
        self.params += params.data.len();
        let (g, b) = params.data.split_at(c);
        let a: Vec<f32> = (0..c)
            .map(|i| g[i] / (running_variances.data[i] + eps).sqrt())
            .collect();
        let shift: Vec<f32> = (0..c)
            .map(|i| b[i] - a[i] * running_means.data[i])
            .collect();
        self.fold(&a, &shift)
    }

    /// Fold `y = a[c] * x + b[c]` into the last conv's weights and biases.
    fn fold(&mut self, a: &[f32], b: &[f32]) -> anyhow::Result<()> {
        let c = a.len();
        let (wi, bi) = self
            .last_conv
            .take()
            .context("a norm layer without a preceding conv")?;
        let per_filter = self.graph.initializers[wi].data.len() / c;
        for (o, chunk) in self.graph.initializers[wi]
            .data
            .chunks_mut(per_filter)
            .enumerate()
        {
            for v in chunk {
                *v *= a[o];
            }
        }
        for (o, v) in self.graph.initializers[bi].data.iter_mut().enumerate() {
            *v = *v * a[o] + b[o];
        }
        Ok(())
    }

    fn pool(&mut self, r: &mut Reader<'_>, kind: Wrapper) -> anyhow::Result<()> {
        let version = if kind == MaxPool {
            "max_pool_2"
        } else {
            "avg_pool_2"
        };
        r.expect_string(version)?;
        let (kh, kw) = (r.int()?, r.int()?);
        let (sy, sx) = (r.int()?, r.int()?);
        let (py, px) = (r.int()?, r.int()?);
        ensure!(
            py == 0 && px == 0,
            "pooling with padding is not used by this model"
        );
        let [c, h, w] = self.cur.1;
        let input = self.cur.0.clone();
        match kind {
            GlobalAvgPool => {
                ensure!(kh == 0 && kw == 0, "expected a global average pool");
                self.push("GlobalAveragePool", vec![input], vec![], [c, 1, 1]);
            }
            _ => {
                ensure!(kh > 0 && kw > 0 && sy > 0 && sx > 0, "bad pool window");
                let shape = [c, (h - kh) / sy + 1, (w - kw) / sx + 1];
                let op = if kind == MaxPool {
                    "MaxPool"
                } else {
                    "AveragePool"
                };
                let attrs = vec![
                    ("kernel_shape", Attr::Ints(vec![kh, kw])),
                    ("strides", Attr::Ints(vec![sy, sx])),
                ];
                self.push(op, vec![input], attrs, shape);
            }
        }
        Ok(())
    }

    /// Zero-pad `x` at the end of the channel, row and column axes up to `to` (dlib's add_prev
    /// with unequal shapes: docs/dlib-formats.md 3.3).
    fn pad_to(&mut self, x: (String, Shape), to: Shape) -> String {
        if x.1 == to {
            return x.0;
        }
        let pads_name = self.fresh("pads");
        self.graph.int_initializers.push(IntInitializer {
            name: pads_name.clone(),
            dims: vec![8],
            data: vec![
                0,
                0,
                0,
                0,
                0,
                to[0] - x.1[0],
                to[1] - x.1[1],
                to[2] - x.1[2],
            ],
        });
        let out = self.fresh("pad");
        self.graph.nodes.push(Node {
            op: "Pad",
            name: out.clone(),
            inputs: vec![x.0, pads_name],
            outputs: vec![out.clone()],
            attrs: vec![],
        });
        out
    }

    fn add_prev(&mut self, tag: u8) -> anyhow::Result<()> {
        let other = self.tags[usize::from(tag)]
            .clone()
            .context("add_prev before its tag")?;
        let cur = self.cur.clone();
        let to = [
            cur.1[0].max(other.1[0]),
            cur.1[1].max(other.1[1]),
            cur.1[2].max(other.1[2]),
        ];
        let a = self.pad_to(cur, to);
        let b = self.pad_to(other, to);
        self.push("Add", vec![a, b], vec![], to);
        Ok(())
    }

    fn fc(&mut self, r: &mut Reader<'_>) -> anyhow::Result<()> {
        r.expect_string("fc_2")?;
        let outputs = r.int()?;
        let inputs = r.int()?;
        let params = r.tensor()?;
        let wshape = r.alias_tensor()?;
        r.alias_tensor()?; // biases: unused with bias_mode 1
        r.expect_int(1, "fc bias_mode (no bias)")?;
        for _ in 0..4 {
            r.float()?;
        }
        let [c, h, w] = self.cur.1;
        ensure!(
            inputs == c * h * w,
            "fc expects {inputs} inputs, the graph has {}",
            c * h * w
        );
        ensure!(
            wshape == [inputs, outputs, 1, 1],
            "fc weight shape {wshape:?}"
        );
        ensure!(
            params.data.len() == usize::try_from(inputs * outputs)?,
            "fc params"
        );
        self.params += params.data.len();
        let shape_name = self.fresh("flat_shape");
        self.graph.int_initializers.push(IntInitializer {
            name: shape_name.clone(),
            dims: vec![2],
            data: vec![-1, inputs],
        });
        let input = self.cur.0.clone();
        let flat = self.fresh("flatten");
        self.graph.nodes.push(Node {
            op: "Reshape",
            name: flat.clone(),
            inputs: vec![input, shape_name],
            outputs: vec![flat.clone()],
            attrs: vec![],
        });
        // dlib stores fc weights as [inputs][outputs]: exactly MatMul's right operand (3.4).
        let wname = self.fresh("fc_w");
        self.graph.initializers.push(Initializer {
            name: wname.clone(),
            dims: vec![inputs, outputs],
            data: params.data,
        });
        self.graph.nodes.push(Node {
            op: "MatMul",
            name: OUTPUT.into(),
            inputs: vec![flat, wname],
            outputs: vec![OUTPUT.into()],
            attrs: vec![],
        });
        self.cur = (OUTPUT.into(), [outputs, 1, 1]);
        Ok(())
    }
}

/// Convert the ResNet stream to ONNX bytes (deterministic: same input, same bytes).
pub fn resnet_to_onnx(dat: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut r = Reader::new(dat);
    r.expect_int(1, "loss wrapper version")?;
    r.expect_string("loss_metric_2")?;
    r.float()?; // margin
    r.float()?; // distance threshold
    let wrappers = topology();
    for (i, w) in wrappers.iter().enumerate() {
        let expected = match w {
            Wrapper::Tag(_) | Wrapper::Skip(_) => 1,
            _ if i == wrappers.len() - 1 => 3,
            _ => 2,
        };
        r.expect_int(expected, "layer wrapper header")?;
    }
    r.expect_string("input_rgb_image_sized")?;
    let mean = [r.float32()?, r.float32()?, r.float32()?];
    let (nr, nc) = (r.int()?, r.int()?);
    ensure!(
        nr == 150 && nc == 150,
        "input size {nr}x{nc}, expected 150x150"
    );

    let mut b = Builder {
        graph: Graph {
            name: "dlib_face_recognition_resnet_model_v1".into(),
            ..Graph::default()
        },
        cur: (String::new(), [3, nr, nc]),
        tags: [None, None, None],
        last_conv: None,
        counter: 0,
        params: 0,
    };
    // Normalisation inside the graph: (pixel - mean) / 256, channel order R, G, B (2.4).
    b.graph.initializers.push(Initializer {
        name: "mean".into(),
        dims: vec![1, 3, 1, 1],
        data: mean.to_vec(),
    });
    b.graph.initializers.push(Initializer {
        name: "scale".into(),
        dims: vec![1],
        data: vec![1.0 / 256.0],
    });
    b.push(
        "Sub",
        vec![INPUT.into(), "mean".into()],
        vec![],
        [3, nr, nc],
    );
    let centred = b.cur.0.clone();
    b.push("Mul", vec![centred, "scale".into()], vec![], [3, nr, nc]);

    for (i, w) in wrappers.iter().enumerate().rev() {
        let bottom = i == wrappers.len() - 1;
        match *w {
            Wrapper::Tag(t) => {
                b.tags[usize::from(t)] = Some(b.cur.clone());
                continue;
            }
            Wrapper::Skip(t) => {
                b.cur = b.tags[usize::from(t)]
                    .clone()
                    .context("skip before its tag")?;
                continue;
            }
            Conv => b.conv(&mut r)?,
            Affine => b.affine(&mut r)?,
            Relu => {
                r.expect_string("relu_")?;
                let (input, shape) = b.cur.clone();
                b.push("Relu", vec![input], vec![], shape);
            }
            MaxPool | AvgPool | GlobalAvgPool => b.pool(&mut r, *w)?,
            Wrapper::AddPrev(t) => {
                r.expect_string("add_prev_")?;
                b.add_prev(t)?;
            }
            Fc => b.fc(&mut r)?,
        }
        // add_layer trailer: three flags, x_grad and cached_output (empty), then the gradient
        // of the parameters, or for the layer on the input its grad_final and expansion factor.
        for _ in 0..3 {
            r.bool()?;
        }
        for _ in 0..2 {
            r.tensor()?;
        }
        r.tensor()?;
        if bottom {
            r.int()?;
        }
    }
    r.expect_end()?;
    ensure!(
        b.params == RESNET_PARAMS,
        "parameter total {} != {RESNET_PARAMS}",
        b.params
    );
    if b.cur.0 != OUTPUT {
        bail!("the network does not end in the fc layer");
    }
    b.graph.inputs.push(ValueInfo {
        name: INPUT.into(),
        dims: vec![
            Dim::Symbolic("N"),
            Dim::Fixed(3),
            Dim::Fixed(nr),
            Dim::Fixed(nc),
        ],
    });
    b.graph.outputs.push(ValueInfo {
        name: OUTPUT.into(),
        dims: vec![Dim::Symbolic("N"), Dim::Fixed(b.cur.1[0])],
    });
    let meta = [
        (
            "source",
            "dlib_face_recognition_resnet_model_v1.dat (face_recognition_models 0.3.0, CC0)"
                .to_owned(),
        ),
        (
            "input",
            "RGB pixel values 0-255, NCHW float32, 150x150; normalised inside".to_owned(),
        ),
        ("mean_rgb", format!("{},{},{}", mean[0], mean[1], mean[2])),
    ];
    Ok(super::onnx::model(&b.graph, &meta))
}

/// Input and output names of the converted MMOD detector.
pub const MMOD_INPUT: &str = "pyramid";
pub const MMOD_OUTPUT: &str = "scores";
/// Sum of the MMOD network's parameters (docs/dlib-formats.md 4.1).
const MMOD_PARAMS: usize = 181_141;

/// What the MMOD file says besides its weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmodOptions {
    /// Detector window (80x80 in the shipped file).
    pub window: (i64, i64),
    /// Non-maximum suppression: IoU over the bounding box of both, and the covered fraction.
    pub nms_iou: f64,
    pub nms_covered: f64,
    /// Channel means of the input layer, R, G, B.
    pub mean: [f32; 3],
    /// Pyramid padding between levels and around the tiled image.
    pub padding: i64,
    pub outer_padding: i64,
}

/// Parse dlib's MMOD face detector (`mmod_human_face_detector.dat`) and emit its seven
/// convolutions (batch norms folded) as an ONNX graph over `[1, 3, H, W]` with dynamic H and
/// W. The image pyramid, normalisation and decoding stay in Rust (`vision::detect`).
pub fn mmod_to_onnx(dat: &[u8]) -> anyhow::Result<(Vec<u8>, MmodOptions)> {
    let mut r = Reader::new(dat);
    r.expect_int(1, "loss wrapper version")?;
    r.expect_string("loss_mmod_")?;
    r.expect_int(1, "mmod_options version")?;
    let window = (r.int()?, r.int()?);
    ensure!(
        window == (80, 80),
        "detector window {window:?}, expected 80x80"
    );
    r.float()?; // loss per false alarm
    r.float()?; // loss per missed target
    r.float()?; // truth match IoU threshold
    let nms_iou = r.float()?;
    let nms_covered = r.float()?;
    r.float()?; // overlaps_ignore: IoU
    r.float()?; // overlaps_ignore: covered
    // 19 add_layer wrappers, top down: conv9, then 3 x (relu, bn, conv 5x5) twice.
    for i in 0..19 {
        r.expect_int(if i == 18 { 3 } else { 2 }, "layer wrapper header")?;
    }
    let version = r.string()?;
    let (padding, outer_padding) = match version.as_str() {
        "input_rgb_image_pyramid" => (10, 11),
        other => bail!("input layer {other:?}, expected input_rgb_image_pyramid"),
    };
    let mean = [r.float32()?, r.float32()?, r.float32()?];

    let mut b = Builder {
        graph: Graph {
            name: "mmod_human_face_detector".into(),
            ..Graph::default()
        },
        // H and W are dynamic; a nominal size lets the shape checks run.
        cur: (MMOD_INPUT.into(), [3, 1000, 1000]),
        tags: [None, None, None],
        last_conv: None,
        counter: 0,
        params: 0,
    };
    // Bottom up: 6 x (conv, bn, relu), then the 9x9 conv that gives the score map.
    for i in 0..19 {
        match i {
            18 => {
                b.conv(&mut r)?;
                b.last_conv = None;
            }
            _ if i % 3 == 0 => b.conv(&mut r)?,
            _ if i % 3 == 1 => b.bn_con(&mut r)?,
            _ => {
                r.expect_string("relu_")?;
                let (input, shape) = b.cur.clone();
                b.push("Relu", vec![input], vec![], shape);
            }
        }
        for _ in 0..3 {
            r.bool()?;
        }
        for _ in 0..2 {
            r.tensor()?;
        }
        r.tensor()?;
        if i == 0 {
            r.int()?;
        }
    }
    r.expect_end()?;
    ensure!(
        b.params == MMOD_PARAMS,
        "parameter total {} != {MMOD_PARAMS}",
        b.params
    );
    ensure!(b.cur.1[0] == 1, "the score map must have one channel");
    // Name the last node's output as the graph output.
    let last = b.graph.nodes.last_mut().context("empty graph")?;
    last.outputs = vec![MMOD_OUTPUT.into()];
    b.graph.inputs.push(ValueInfo {
        name: MMOD_INPUT.into(),
        dims: vec![
            Dim::Fixed(1),
            Dim::Fixed(3),
            Dim::Symbolic("H"),
            Dim::Symbolic("W"),
        ],
    });
    b.graph.outputs.push(ValueInfo {
        name: MMOD_OUTPUT.into(),
        dims: vec![
            Dim::Fixed(1),
            Dim::Fixed(1),
            Dim::Symbolic("Ho"),
            Dim::Symbolic("Wo"),
        ],
    });
    let meta = [
        (
            "source",
            "mmod_human_face_detector.dat (face_recognition_models 0.3.0, CC0)".to_owned(),
        ),
        (
            "input",
            "tiled image pyramid, (pixel - mean) / 256, NCHW float32".to_owned(),
        ),
        ("mean_rgb", format!("{},{},{}", mean[0], mean[1], mean[2])),
    ];
    let options = MmodOptions {
        window,
        nms_iou,
        nms_covered,
        mean,
        padding,
        outer_padding,
    };
    Ok((super::onnx::model(&b.graph, &meta), options))
}

/// Convert `dat` into `out` atomically; returns the sha256 of the written bytes.
pub fn convert_file(dat: &Path, out: &Path) -> anyhow::Result<String> {
    convert_with(dat, out, resnet_to_onnx)
}

/// As [`convert_file`] for the MMOD detector. The server converts it in memory at start-up;
/// the file is for inspection and for other ONNX tools.
pub fn convert_mmod_file(dat: &Path, out: &Path) -> anyhow::Result<String> {
    convert_with(dat, out, |b| mmod_to_onnx(b).map(|(onnx, _)| onnx))
}

fn convert_with(
    dat: &Path,
    out: &Path,
    convert: impl Fn(&[u8]) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<String> {
    let bytes = std::fs::read(dat).with_context(|| format!("reading {}", dat.display()))?;
    let onnx = convert(&bytes).with_context(|| format!("converting {}", dat.display()))?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, &onnx).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
    Ok(hex::encode(Sha256::digest(&onnx)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vision::testdata;

    #[test]
    fn topology_has_130_wrappers() {
        let t = topology();
        assert_eq!(t.len(), 130);
        assert_eq!(
            t.iter().filter(|w| matches!(w, Wrapper::Tag(_))).count(),
            18
        );
        assert_eq!(
            t.iter().filter(|w| matches!(w, Wrapper::Skip(_))).count(),
            4
        );
        assert_eq!(t.iter().filter(|w| **w == Conv).count(), 29);
    }

    #[test]
    fn converts_the_real_file_deterministically() {
        let dat = std::fs::read(testdata::model_file(
            "dlib_face_recognition_resnet_model_v1.dat",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let a = resnet_to_onnx(&dat).unwrap_or_else(|e| panic!("{e:#}"));
        let b = resnet_to_onnx(&dat).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(a, b);
        // Truncated or padded streams are refused.
        assert!(resnet_to_onnx(&dat[..dat.len() - 1]).is_err());
        let mut longer = dat.clone();
        longer.push(0);
        assert!(resnet_to_onnx(&longer).is_err());
    }
}
