//! Reading a PyTorch state dict saved in the legacy (pre-1.6, non-zip) `torch.save` format,
//! which is how facenet-pytorch ships MTCNN's weights. The format is five pickles in a row
//! (magic number, protocol version, system info, the object, the storage keys) followed by
//! each storage's element count (int64) and raw little-endian data. Only what a state dict of
//! float tensors needs is understood: an ordered dict of `_rebuild_tensor_v2` tensors whose
//! storages are persistent ids. docs/detection.md ("The proposal networks").

use std::collections::HashMap;

use anyhow::{Context, bail, ensure};

/// `torch.save`'s magic number, the first pickle of the legacy format.
const MAGIC: i128 = 0x1950_a86a_20f9_469c_fc6c;
/// The legacy format's protocol version.
const PROTOCOL: i64 = 1001;

/// One float32 tensor of the state dict, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub dims: Vec<i64>,
    pub data: Vec<f32>,
}

#[derive(Debug, Clone)]
enum Val {
    None,
    Bool,
    Int(i128),
    Str(String),
    Tuple(Vec<Val>),
    List(Vec<Val>),
    Dict(Vec<(Val, Val)>),
    Global(String, String),
    Storage { key: String, float: bool },
    Tensor(TensorRef),
    Mark,
}

#[derive(Debug, Clone)]
struct TensorRef {
    key: String,
    offset: usize,
    size: Vec<usize>,
    stride: Vec<usize>,
}

struct Unpickler<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Unpickler<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let end = self.pos.checked_add(n).context("offset overflow")?;
        let s = self.data.get(self.pos..end).context("truncated pickle")?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> anyhow::Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> anyhow::Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// One pickle, up to and including its STOP.
    #[allow(clippy::too_many_lines)]
    fn load(&mut self) -> anyhow::Result<Val> {
        let mut stack: Vec<Val> = Vec::new();
        let mut memo: HashMap<u32, Val> = HashMap::new();
        let pop = |stack: &mut Vec<Val>| stack.pop().context("pickle stack underflow");
        let pop_mark = |stack: &mut Vec<Val>| -> anyhow::Result<Vec<Val>> {
            let at = stack
                .iter()
                .rposition(|v| matches!(v, Val::Mark))
                .context("pickle MARK missing")?;
            let items = stack.split_off(at + 1);
            stack.pop();
            Ok(items)
        };
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?; // PROTO n
                }
                b'.' => return pop(&mut stack),
                b'(' => stack.push(Val::Mark),
                b'N' => stack.push(Val::None),
                0x88 | 0x89 => stack.push(Val::Bool),
                b'K' => stack.push(Val::Int(self.u8()?.into())),
                b'M' => {
                    let b = self.take(2)?;
                    stack.push(Val::Int(u16::from_le_bytes([b[0], b[1]]).into()));
                }
                b'J' => {
                    let b = self.take(4)?;
                    stack.push(Val::Int(
                        i32::from_le_bytes([b[0], b[1], b[2], b[3]]).into(),
                    ));
                }
                0x8a => {
                    // LONG1: n bytes, little-endian two's complement.
                    let n = usize::from(self.u8()?);
                    ensure!(n <= 16, "integer of {n} bytes");
                    let b = self.take(n)?;
                    let mut v: i128 = 0;
                    for (i, byte) in b.iter().enumerate() {
                        v |= i128::from(*byte) << (8 * i);
                    }
                    if n > 0 && n < 16 && b[n - 1] & 0x80 != 0 {
                        v -= 1i128 << (8 * n);
                    }
                    stack.push(Val::Int(v));
                }
                b'X' | 0x8c => {
                    let n = if op == b'X' {
                        usize::try_from(self.u32()?)?
                    } else {
                        usize::from(self.u8()?)
                    };
                    let s = std::str::from_utf8(self.take(n)?).context("pickle string")?;
                    stack.push(Val::Str(s.to_owned()));
                }
                b'c' => {
                    let mut line = || -> anyhow::Result<String> {
                        let rest = &self.data[self.pos.min(self.data.len())..];
                        let end = rest
                            .iter()
                            .position(|&b| b == b'\n')
                            .context("GLOBAL without newline")?;
                        let s = std::str::from_utf8(&rest[..end]).context("GLOBAL name")?;
                        self.pos += end + 1;
                        Ok(s.to_owned())
                    };
                    let (module, name) = (line()?, line()?);
                    stack.push(Val::Global(module, name));
                }
                b'}' => stack.push(Val::Dict(Vec::new())),
                b']' => stack.push(Val::List(Vec::new())),
                b')' => stack.push(Val::Tuple(Vec::new())),
                b't' => {
                    let items = pop_mark(&mut stack)?;
                    stack.push(Val::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    ensure!(stack.len() >= n, "pickle stack underflow");
                    let items = stack.split_off(stack.len() - n);
                    stack.push(Val::Tuple(items));
                }
                b'q' | b'r' => {
                    let k = if op == b'q' {
                        u32::from(self.u8()?)
                    } else {
                        self.u32()?
                    };
                    let v = stack.last().context("BINPUT on an empty stack")?.clone();
                    memo.insert(k, v);
                }
                b'h' | b'j' => {
                    let k = if op == b'h' {
                        u32::from(self.u8()?)
                    } else {
                        self.u32()?
                    };
                    stack.push(memo.get(&k).context("BINGET of an unknown memo")?.clone());
                }
                b's' | b'u' => {
                    let items = if op == b's' {
                        let v = pop(&mut stack)?;
                        let k = pop(&mut stack)?;
                        vec![k, v]
                    } else {
                        pop_mark(&mut stack)?
                    };
                    ensure!(items.len() % 2 == 0, "SETITEMS with an odd count");
                    let Some(Val::Dict(d)) = stack.last_mut() else {
                        bail!("SETITEM on something not a dict");
                    };
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        d.push((k, v));
                    }
                }
                b'a' | b'e' => {
                    let items = if op == b'a' {
                        vec![pop(&mut stack)?]
                    } else {
                        pop_mark(&mut stack)?
                    };
                    let Some(Val::List(l)) = stack.last_mut() else {
                        bail!("APPEND on something not a list");
                    };
                    l.extend(items);
                }
                b'Q' => {
                    let pid = pop(&mut stack)?;
                    stack.push(storage(pid)?);
                }
                b'R' => {
                    let args = pop(&mut stack)?;
                    let f = pop(&mut stack)?;
                    stack.push(reduce(f, args)?);
                }
                b'b' => {
                    // BUILD: state for the object below (an OrderedDict's `_metadata`); unused.
                    pop(&mut stack)?;
                }
                other => bail!("pickle opcode 0x{other:02x} is not supported"),
            }
        }
    }
}

/// A persistent id `('storage', torch.XStorage, key, location, numel[, view])`.
fn storage(pid: Val) -> anyhow::Result<Val> {
    let Val::Tuple(items) = pid else {
        bail!("persistent id is not a tuple");
    };
    match items.as_slice() {
        [Val::Str(kind), Val::Global(module, name), Val::Str(key), ..]
            if kind == "storage" && module == "torch" =>
        {
            Ok(Val::Storage {
                key: key.clone(),
                float: name == "FloatStorage",
            })
        }
        _ => bail!("persistent id is not a storage"),
    }
}

fn usizes(v: &Val) -> anyhow::Result<Vec<usize>> {
    let Val::Tuple(items) = v else {
        bail!("expected a tuple of sizes");
    };
    items
        .iter()
        .map(|i| match i {
            Val::Int(n) => usize::try_from(*n).context("negative size"),
            _ => bail!("size is not an integer"),
        })
        .collect()
}

/// The calls a state dict makes: `OrderedDict()` and `_rebuild_tensor_v2(storage, offset,
/// size, stride, ...)`.
fn reduce(f: Val, args: Val) -> anyhow::Result<Val> {
    let Val::Global(module, name) = f else {
        bail!("REDUCE of something not a global");
    };
    let Val::Tuple(args) = args else {
        bail!("REDUCE arguments are not a tuple");
    };
    match (module.as_str(), name.as_str()) {
        ("collections", "OrderedDict") => Ok(Val::Dict(Vec::new())),
        ("torch._utils", "_rebuild_tensor_v2") => match args.as_slice() {
            [
                Val::Storage { key, float },
                Val::Int(offset),
                size,
                stride,
                ..,
            ] => {
                ensure!(*float, "tensor {key} is not float32");
                Ok(Val::Tensor(TensorRef {
                    key: key.clone(),
                    offset: usize::try_from(*offset).context("negative offset")?,
                    size: usizes(size)?,
                    stride: usizes(stride)?,
                }))
            }
            _ => bail!("unexpected _rebuild_tensor_v2 arguments"),
        },
        (m, n) => bail!("pickle calls {m}.{n}, which a state dict does not"),
    }
}

/// The tensors of a legacy `torch.save(state_dict)` file, by name, in file order.
pub fn read_state_dict(bytes: &[u8]) -> anyhow::Result<Vec<(String, Tensor)>> {
    let mut p = Unpickler {
        data: bytes,
        pos: 0,
    };
    match p.load()? {
        Val::Int(m) if m == MAGIC => {}
        _ => bail!("not a legacy torch.save file (magic number)"),
    }
    match p.load()? {
        Val::Int(v) if v == i128::from(PROTOCOL) => {}
        _ => bail!("unsupported torch.save protocol version"),
    }
    p.load()?; // system info: endianness and type sizes (little-endian is checked below)
    let Val::Dict(entries) = p.load()? else {
        bail!("the saved object is not a dict");
    };
    let Val::List(keys) = p.load()? else {
        bail!("storage key list missing");
    };
    let mut storages: HashMap<String, Vec<f32>> = HashMap::new();
    for k in keys {
        let Val::Str(k) = k else {
            bail!("storage key is not a string");
        };
        let count = p.take(8)?;
        let n = u64::from_le_bytes(count.try_into().context("element count")?);
        let n = usize::try_from(n)?;
        let raw = p.take(n.checked_mul(4).context("storage size overflow")?)?;
        let floats = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        storages.insert(k, floats);
    }
    ensure!(p.pos == bytes.len(), "trailing bytes after the storages");
    let mut out = Vec::new();
    for (name, value) in entries {
        let (Val::Str(name), Val::Tensor(t)) = (name, value) else {
            bail!("state dict entry is not a named tensor");
        };
        let store = storages
            .get(&t.key)
            .with_context(|| format!("{name}: storage {} missing", t.key))?;
        // Any strides (these files hold some tensors transposed): gather row-major.
        ensure!(
            t.size.len() == t.stride.len(),
            "{name}: size and stride differ in rank"
        );
        let numel = t
            .size
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .filter(|&n| n <= store.len().max(1) * 64)
            .with_context(|| format!("{name}: more elements than its storage can hold"))?;
        let last = t
            .size
            .iter()
            .zip(&t.stride)
            .map(|(d, s)| d.saturating_sub(1) * s)
            .sum::<usize>()
            + t.offset;
        ensure!(
            numel == 0 || last < store.len(),
            "{name}: storage too short"
        );
        let mut data = Vec::with_capacity(numel);
        let mut index = vec![0usize; t.size.len()];
        for _ in 0..numel {
            let at: usize = t.offset
                + index
                    .iter()
                    .zip(&t.stride)
                    .map(|(i, s)| i * s)
                    .sum::<usize>();
            data.push(store[at]);
            for k in (0..index.len()).rev() {
                index[k] += 1;
                if index[k] < t.size[k] {
                    break;
                }
                index[k] = 0;
            }
        }
        let dims = t
            .size
            .iter()
            .map(|&d| i64::try_from(d))
            .collect::<Result<_, _>>()?;
        out.push((name, Tensor { dims, data }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-assembled file: one 2x3 tensor `w` and a scalar-shaped `b`, sharing nothing.
    fn sample() -> Vec<u8> {
        let mut f = Vec::new();
        // magic, protocol, sys info
        f.extend([0x80, 2, 0x8a, 10]);
        f.extend(&MAGIC.to_le_bytes()[..10]);
        f.push(b'.');
        f.extend([0x80, 2, b'M']);
        f.extend(1001u16.to_le_bytes());
        f.push(b'.');
        f.extend([0x80, 2, b'}', b'.']);
        // OrderedDict() with w -> tensor(storage "1", 0, (2, 3), (3, 1)), b -> ("2", 0, (1,), (1,))
        f.extend(b"\x80\x02ccollections\nOrderedDict\n)R(");
        for (name, key, size, stride) in
            [("w", "1", [2u8, 3], [3u8, 1]), ("b", "2", [1, 0], [1, 0])]
        {
            f.push(0x8c);
            f.push(u8::try_from(name.len()).unwrap_or(0));
            f.extend(name.as_bytes());
            f.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
            f.extend(b"(\x8c\x07storagectorch\nFloatStorage\n\x8c");
            f.push(1);
            f.extend(key.as_bytes());
            f.extend(b"\x8c\x03cpuK\x06NtQK\x00");
            if size[1] == 0 {
                f.extend([b'K', size[0], 0x85, b'K', stride[0], 0x85]);
            } else {
                f.extend([b'K', size[0], b'K', size[1], 0x86]);
                f.extend([b'K', stride[0], b'K', stride[1], 0x86]);
            }
            f.extend([0x89, b'N', b't', b'R']);
        }
        f.extend(b"u.");
        f.extend(b"\x80\x02](\x8c\x011\x8c\x012e.");
        for vals in [&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0][..], &[7.0]] {
            f.extend(u64::try_from(vals.len()).unwrap_or(0).to_le_bytes());
            for v in vals {
                f.extend(v.to_le_bytes());
            }
        }
        f
    }

    #[test]
    fn reads_a_legacy_state_dict() {
        let got = read_state_dict(&sample()).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, "w");
        assert_eq!(got[0].1.dims, vec![2, 3]);
        assert_eq!(got[0].1.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(got[1].0, "b");
        assert_eq!(got[1].1.data, vec![7.0]);
    }

    #[test]
    fn refuses_damaged_files() {
        let good = sample();
        for n in [0, 5, good.len() / 2, good.len() - 1] {
            assert!(read_state_dict(&good[..n]).is_err(), "truncated at {n}");
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(read_state_dict(&longer).is_err());
        let mut bad = good;
        bad[3] ^= 1;
        assert!(read_state_dict(&bad).is_err(), "magic number");
    }
}
