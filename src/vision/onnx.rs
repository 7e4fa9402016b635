//! A minimal writer for ONNX models (protobuf wire format), enough for the graphs our converter
//! emits: float tensors, nodes with int / ints / float attributes, typed inputs and outputs.
//! Field numbers follow `onnx.proto` (IR version 8, opset 17).

/// IR version and default-domain opset the converter targets (onnxruntime 1.32 runs both).
pub const IR_VERSION: i64 = 8;
pub const OPSET: i64 = 17;

const WIRE_VARINT: u64 = 0;
const WIRE_LEN: u64 = 2;
const WIRE_I32: u64 = 5;

/// Protobuf encoding primitives over a byte buffer.
#[derive(Default)]
struct Buf(Vec<u8>);

impl Buf {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u64, wire: u64) {
        self.varint((field << 3) | wire);
    }

    /// int64 / int32 / enum fields: negative values are sign-extended to 64 bits, as protobuf does.
    fn int(&mut self, field: u64, v: i64) {
        self.key(field, WIRE_VARINT);
        self.varint(v as u64);
    }

    fn bytes(&mut self, field: u64, b: &[u8]) {
        self.key(field, WIRE_LEN);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn string(&mut self, field: u64, s: &str) {
        self.bytes(field, s.as_bytes());
    }

    fn float(&mut self, field: u64, v: f32) {
        self.key(field, WIRE_I32);
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn message(&mut self, field: u64, m: &Buf) {
        self.bytes(field, &m.0);
    }
}

/// A node attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
}

/// One operator application.
#[derive(Debug, Clone)]
pub struct Node {
    pub op: &'static str,
    pub name: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attrs: Vec<(&'static str, Attr)>,
}

/// A float32 initializer.
#[derive(Debug, Clone)]
pub struct Initializer {
    pub name: String,
    pub dims: Vec<i64>,
    pub data: Vec<f32>,
}

/// An int64 initializer (shapes for Reshape / Pad).
#[derive(Debug, Clone)]
pub struct IntInitializer {
    pub name: String,
    pub dims: Vec<i64>,
    pub data: Vec<i64>,
}

/// A dimension of a graph input or output: fixed, or symbolic (the batch).
#[derive(Debug, Clone)]
pub enum Dim {
    Fixed(i64),
    Symbolic(&'static str),
}

/// A float32 graph input or output.
#[derive(Debug, Clone)]
pub struct ValueInfo {
    pub name: String,
    pub dims: Vec<Dim>,
}

#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub name: String,
    pub nodes: Vec<Node>,
    pub initializers: Vec<Initializer>,
    pub int_initializers: Vec<IntInitializer>,
    pub inputs: Vec<ValueInfo>,
    pub outputs: Vec<ValueInfo>,
}

const TENSOR_FLOAT: i64 = 1;
const TENSOR_INT64: i64 = 7;

fn tensor(name: &str, dims: &[i64], data_type: i64, raw: &[u8]) -> Buf {
    let mut t = Buf::default();
    for d in dims {
        t.int(1, *d);
    }
    t.int(2, data_type);
    t.string(8, name);
    t.bytes(9, raw);
    t
}

fn value_info(v: &ValueInfo) -> Buf {
    let mut shape = Buf::default();
    for d in &v.dims {
        let mut dim = Buf::default();
        match d {
            Dim::Fixed(n) => dim.int(1, *n),
            Dim::Symbolic(s) => dim.string(2, s),
        }
        shape.message(1, &dim);
    }
    let mut tensor_type = Buf::default();
    tensor_type.int(1, TENSOR_FLOAT);
    tensor_type.message(2, &shape);
    let mut ty = Buf::default();
    ty.message(1, &tensor_type);
    let mut out = Buf::default();
    out.string(1, &v.name);
    out.message(2, &ty);
    out
}

fn node(n: &Node) -> Buf {
    let mut out = Buf::default();
    for i in &n.inputs {
        out.string(1, i);
    }
    for o in &n.outputs {
        out.string(2, o);
    }
    out.string(3, &n.name);
    out.string(4, n.op);
    for (name, attr) in &n.attrs {
        let mut a = Buf::default();
        a.string(1, name);
        match attr {
            Attr::Float(f) => {
                a.float(2, *f);
                a.int(20, 1);
            }
            Attr::Int(i) => {
                a.int(3, *i);
                a.int(20, 2);
            }
            Attr::Ints(v) => {
                for i in v {
                    a.int(8, *i);
                }
                a.int(20, 7);
            }
        }
        out.message(5, &a);
    }
    out
}

/// Serialise a model: the graph plus producer, opset and string metadata.
#[must_use]
pub fn model(graph: &Graph, metadata: &[(&str, String)]) -> Vec<u8> {
    let mut g = Buf::default();
    for n in &graph.nodes {
        g.message(1, &node(n));
    }
    g.string(2, &graph.name);
    for init in &graph.initializers {
        let raw: Vec<u8> = init.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        g.message(5, &tensor(&init.name, &init.dims, TENSOR_FLOAT, &raw));
    }
    for init in &graph.int_initializers {
        let raw: Vec<u8> = init.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        g.message(5, &tensor(&init.name, &init.dims, TENSOR_INT64, &raw));
    }
    for v in &graph.inputs {
        g.message(11, &value_info(v));
    }
    for v in &graph.outputs {
        g.message(12, &value_info(v));
    }
    let mut m = Buf::default();
    m.int(1, IR_VERSION);
    m.string(2, "rollcall");
    m.string(3, env!("CARGO_PKG_VERSION"));
    m.message(7, &g);
    let mut opset = Buf::default();
    opset.string(1, "");
    opset.int(2, OPSET);
    m.message(8, &opset);
    for (k, v) in metadata {
        let mut e = Buf::default();
        e.string(1, k);
        e.string(2, v);
        m.message(14, &e);
    }
    m.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_fields() {
        let mut b = Buf::default();
        b.varint(1);
        b.varint(300);
        b.int(1, -1);
        b.string(2, "ab");
        b.float(3, 1.0);
        assert_eq!(
            b.0,
            vec![
                0x01, 0xac, 0x02, // 1, 300
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                0x01, // field 1 = -1
                0x12, 0x02, b'a', b'b', // field 2 = "ab"
                0x1d, 0x00, 0x00, 0x80, 0x3f, // field 3 = 1.0f
            ]
        );
    }

    #[test]
    fn model_starts_with_ir_version_and_is_deterministic() {
        let g = Graph {
            name: "g".into(),
            nodes: vec![Node {
                op: "Relu",
                name: "r".into(),
                inputs: vec!["x".into()],
                outputs: vec!["y".into()],
                attrs: vec![],
            }],
            inputs: vec![ValueInfo {
                name: "x".into(),
                dims: vec![Dim::Symbolic("N"), Dim::Fixed(3)],
            }],
            outputs: vec![ValueInfo {
                name: "y".into(),
                dims: vec![Dim::Symbolic("N"), Dim::Fixed(3)],
            }],
            ..Graph::default()
        };
        let a = model(&g, &[("k", "v".into())]);
        assert_eq!(&a[..2], &[0x08, 0x08], "ir_version 8 first");
        assert_eq!(a, model(&g, &[("k", "v".into())]));
    }
}
