//! `rollcall eval`: accuracy on public data sets (LFW pairs, labelled class photos, the
//! enrolment gate, the detector's boxes).

use anyhow::Context;
use clap::Subcommand;

use super::common::CacheArg;

/// Accuracy on public data sets.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// LFW verification: accuracy at distance 0.6 and at the best threshold on the given
    /// pairs. The last line is `accuracy: 0.XXXX` (at 0.6).
    Lfw {
        /// LFW `pairs.txt` (View 2 format).
        #[arg(long)]
        pairs: std::path::PathBuf,
        /// Image root with `name/name_0001.jpg` (default: beside the pairs file).
        #[arg(long)]
        images: Option<std::path::PathBuf>,
        /// Only the first N matched and N mismatched pairs (a quick run).
        #[arg(long)]
        limit: Option<usize>,
        /// Test-time flip: average each embedding with its mirror image's.
        #[arg(long)]
        flip: bool,
        #[command(flatten)]
        vision: crate::config::VisionSettings,
        #[command(flatten)]
        cache: CacheArg,
    },
    /// Attendance accuracy on labelled photos: every enrolment photo goes through the real
    /// enrolment gate, every photo the truth names through the class-photo pipeline and the
    /// mark route's one-to-one matching (thresholds 0.50 / 0.60); prints the verdicts' figures
    /// (no false present is the rule).
    Attendance {
        /// The class: a folder with one sub-folder of photos per person, or a CSV file of
        /// `photo,person` lines (photos relative to --photos).
        #[arg(long)]
        enrol: std::path::PathBuf,
        /// Root the truth file's photo paths are relative to.
        #[arg(long)]
        photos: std::path::PathBuf,
        /// `photo,person[,left,top,right,bottom]`, one line per person in a photo; persons with
        /// no accepted enrolment photo are strangers (an empty person: nobody known).
        #[arg(long)]
        truth: std::path::PathBuf,
        /// Enlarge enrolment photos this many times before the gate (LFW's 250x250 crops have
        /// faces at its 80 px limit; 2 stands for a closer capture).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4))]
        enrol_upscale: u32,
        /// Test-time flip: average each embedding with its mirror image's (enrolment and
        /// marking alike).
        #[arg(long)]
        flip: bool,
        /// Print the report as JSON instead.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        vision: crate::config::VisionSettings,
        #[command(flatten)]
        cache: CacheArg,
    },
    /// Group photos put together from single-person photos, most faces small, for `eval
    /// attendance`: writes OUT/photos/*.jpg, OUT/truth.csv and OUT/enrol.csv.
    Collage {
        /// The class, as for `eval attendance` (CSV or folder of folders).
        #[arg(long)]
        enrol: std::path::PathBuf,
        /// Truth lines of single-person photos (LFW's layout) to draw the faces from: the class's
        /// persons are members, the others strangers.
        #[arg(long)]
        from: std::path::PathBuf,
        /// Root the photo paths of --enrol and --from are relative to.
        #[arg(long)]
        photos: std::path::PathBuf,
        #[arg(long)]
        out: std::path::PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Widest face drawn, px (20 and up).
        #[arg(long, default_value_t = 300.0)]
        largest_face: f64,
        /// Share of faces that are strangers.
        #[arg(long, default_value_t = 0.2)]
        strangers: f64,
    },
    /// The enrolment gate (as the upload route runs it) on every photo under the folders:
    /// accepted and refused by reason, per folder; `--blur` adds blurred copies of the faces.
    Enrol(EvalEnrol),
    /// Detector recall and precision against hand-labelled boxes (dlib imglab XML), IoU >= 0.5,
    /// for each working-resolution setting.
    Boxes {
        /// imglab XML files; images are read from beside each file.
        #[arg(required = true)]
        xml: Vec<std::path::PathBuf>,
        /// Settings to compare: `auto` (proposals, then MMOD), `refine` (MMOD coarse to fine),
        /// `whole` (the whole photo at the finest scale), each also as `auto:PX:FRACTION` for
        /// another smallest face, or upsample counts 0-2.
        #[arg(long, value_delimiter = ',', default_value = "0,1,2,auto")]
        modes: Vec<String>,
        /// Scale every photo and its labelled boxes by this factor first (0.5: faces half as big).
        #[arg(long, default_value_t = 1.0)]
        scale: f32,
        /// Analyse each photo this many times per setting, settings interleaved; the time
        /// reported is the median over photos of each photo's median.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        #[command(flatten)]
        vision: crate::config::VisionSettings,
        #[command(flatten)]
        cache: CacheArg,
    },
}

/// `rollcall eval enrol`: the real enrolment gate on folders of photos.
#[derive(Debug, clap::Args)]
pub struct EvalEnrol {
    /// Folders; every photo under each (by extension) is checked, each folder counted apart.
    #[arg(required = true)]
    dirs: Vec<std::path::PathBuf>,
    /// Also check blurred copies of every accepted face: `gauss:SIGMA` or `motion:LENGTH`, in
    /// pixels of the face as sharpness measures it (faces wider than 128 px get a
    /// proportionally stronger blur).
    #[arg(long, value_delimiter = ',')]
    blur: Vec<crate::vision::eval::Blur>,
    /// Print every refusal with its photo.
    #[arg(long)]
    verbose: bool,
    #[command(flatten)]
    vision: crate::config::VisionSettings,
    #[command(flatten)]
    cache: CacheArg,
}

impl EvalCommand {
    pub fn run(self) -> anyhow::Result<()> {
        use crate::service::evaluation::collage;
        use crate::vision::eval;
        use crate::vision::pipeline::{Pipeline, Upsample};
        use std::io::Write;
        match self {
            EvalCommand::Lfw {
                pairs,
                images,
                limit,
                flip,
                vision,
                cache,
            } => {
                let text = std::fs::read_to_string(&pairs)
                    .with_context(|| format!("reading {}", pairs.display()))?;
                let mut list = eval::parse_pairs(&text)?;
                if let Some(n) = limit {
                    list = eval::first_pairs(&list, n);
                }
                let root = images.unwrap_or_else(|| {
                    pairs.parent().map_or_else(
                        || std::path::PathBuf::from("."),
                        std::path::Path::to_path_buf,
                    )
                });
                let mut options = vision.pipeline_options()?;
                options.engine.flip = flip;
                let pipeline = Pipeline::load(&cache.resolve(), options)?;
                let started = std::time::Instant::now();
                let report = eval::lfw(&pipeline, &list, &root, options.upsample, |i, n| {
                    if i % 50 == 0 || i == n {
                        eprint!("\rembedded {i}/{n} images");
                        let _ = std::io::stderr().flush();
                    }
                })?;
                eprintln!();
                let same = report.distances.iter().filter(|d| d.1).count();
                outln!(
                    "pairs: {} ({same} same, {} different), images: {}, {:.1} s",
                    report.pairs,
                    report.pairs - same,
                    report.images,
                    started.elapsed().as_secs_f64()
                )?;
                outln!(
                    "no face detected (centred box used instead): {} of {} images",
                    report.fallbacks,
                    report.images
                )?;
                outln!(
                    "best threshold on these pairs: {:.3} (accuracy {:.4})",
                    report.best_threshold,
                    report.best_accuracy
                )?;
                let (same_d, diff_d): (Vec<f32>, Vec<f32>) = {
                    let pick = |want: bool| {
                        report
                            .distances
                            .iter()
                            .filter(|d| d.1 == want)
                            .map(|d| d.0)
                            .collect::<Vec<_>>()
                    };
                    (pick(true), pick(false))
                };
                {
                    use crate::service::evaluation::{mean_median, share_within};
                    let (sm, smed) = mean_median(&same_d);
                    let (dm, dmed) = mean_median(&diff_d);
                    outln!(
                        "distance same: mean {sm:.3}, median {smed:.3}; different: mean {dm:.3}, median {dmed:.3}"
                    )?;
                    for t in [0.5f32, 0.6] {
                        outln!(
                            "at {t:.2}: TAR {:.4}, FAR {:.4}",
                            share_within(&same_d, t),
                            share_within(&diff_d, t)
                        )?;
                    }
                }
                #[allow(clippy::cast_precision_loss)]
                let per_face = report.describe_secs * 1e3 / report.images.max(1) as f64;
                outln!(
                    "landmarks + chip + embedding: {per_face:.1} ms per face{}",
                    if flip { " (with flip)" } else { "" }
                )?;
                outln!("accuracy: {:.4}", report.accuracy_at_06)?;
                Ok(())
            }
            EvalCommand::Attendance {
                enrol,
                photos,
                truth,
                enrol_upscale,
                flip,
                json,
                vision,
                cache,
            } => eval_attendance(
                &AttendanceArgs {
                    enrol,
                    photos,
                    truth,
                    enrol_upscale,
                    flip,
                    json,
                },
                &vision,
                &cache.resolve(),
            ),
            EvalCommand::Enrol(args) => eval_enrol(&args),
            EvalCommand::Collage {
                enrol,
                from,
                photos,
                out,
                seed,
                largest_face,
                strangers,
            } => eval_collage(
                &enrol,
                &from,
                &photos,
                &out,
                collage::Spec {
                    seed,
                    largest_face,
                    strangers,
                    ..collage::Spec::default()
                },
            ),
            EvalCommand::Boxes {
                xml,
                modes,
                scale,
                repeat,
                vision,
                cache,
            } => {
                anyhow::ensure!(
                    scale.is_finite() && (0.05..=8.0).contains(&scale),
                    "--scale must be between 0.05 and 8"
                );
                let base = vision.pipeline_options()?;
                let rules = modes
                    .iter()
                    .map(|m| eval_mode(m, &vision))
                    .collect::<anyhow::Result<Vec<Upsample>>>()?;
                let pipeline = Pipeline::load(&cache.resolve(), base)?;
                let mut runs = vec![eval::BoxRun::default(); rules.len()];
                for file in &xml {
                    let text = std::fs::read_to_string(file)
                        .with_context(|| format!("reading {}", file.display()))?;
                    let labelled = eval::parse_imglab(&text)?;
                    let dir = file.parent().unwrap_or_else(|| std::path::Path::new("."));
                    let got =
                        eval::boxes_compared(&pipeline, &labelled, dir, &rules, scale, repeat)?;
                    for (run, g) in runs.iter_mut().zip(got) {
                        run.counts.truth += g.counts.truth;
                        run.counts.detected += g.counts.detected;
                        run.counts.matched += g.counts.matched;
                        run.ms.extend(g.ms);
                    }
                }
                outln!(
                    "| setting | faces labelled | detected | matched | recall | precision | median ms per photo | time / first setting |"
                )?;
                outln!("|---|---|---|---|---|---|---|---|")?;
                let first = runs.first().map(|r| r.ms.clone()).unwrap_or_default();
                for (mode, run) in modes.iter().zip(&runs) {
                    let mut ratios: Vec<f64> = run
                        .ms
                        .iter()
                        .zip(&first)
                        .map(|(a, b)| a / b.max(1e-9))
                        .collect();
                    let c = run.counts;
                    outln!(
                        "| {mode} | {} | {} | {} | {:.3} | {:.3} | {:.0} | {:.2} |",
                        c.truth,
                        c.detected,
                        c.matched,
                        c.recall(),
                        c.precision(),
                        eval::median(&mut run.ms.clone()),
                        eval::median(&mut ratios)
                    )?;
                }
                Ok(())
            }
        }
    }
}

fn eval_collage(
    enrol: &std::path::Path,
    from: &std::path::Path,
    root: &std::path::Path,
    out: &std::path::Path,
    spec: crate::service::evaluation::collage::Spec,
) -> anyhow::Result<()> {
    use crate::service::evaluation::{self as ev, collage};
    anyhow::ensure!(
        spec.largest_face >= 20.0 && (0.0..=1.0).contains(&spec.strangers),
        "--largest-face must be at least 20 and --strangers between 0 and 1"
    );
    use std::fmt::Write;
    let class = ev::enrolment_list(enrol, root)?;
    let text =
        std::fs::read_to_string(from).with_context(|| format!("reading {}", from.display()))?;
    let (members, strangers) = collage::portraits(&class, &ev::parse_truth(&text)?, root);
    let lines = collage::build(&members, &strangers, &spec, &out.join("photos"))?;
    let mut truth = String::from("photo,person,left,top,right,bottom\n");
    for t in &lines {
        let (Some(p), Some(b)) = (&t.person, t.bbox) else {
            continue;
        };
        writeln!(
            truth,
            "{},{p},{},{},{},{}",
            t.photo, b.left, b.top, b.right, b.bottom
        )?;
    }
    std::fs::write(out.join("truth.csv"), truth)?;
    let mut list = String::from("photo,person\n");
    for (person, path) in &class {
        let path = std::path::absolute(path)?;
        writeln!(list, "{},{person}", path.display())?;
    }
    std::fs::write(out.join("enrol.csv"), list)?;
    let photos: std::collections::BTreeSet<&str> = lines.iter().map(|t| t.photo.as_str()).collect();
    outln!(
        "{} photos, {} faces (from {} portraits of the class and {} of strangers); run:\n  rollcall eval attendance --enrol {o}/enrol.csv --photos {o}/photos --truth {o}/truth.csv",
        photos.len(),
        lines.len(),
        members.len(),
        strangers.len(),
        o = out.display()
    )?;
    Ok(())
}

struct AttendanceArgs {
    enrol: std::path::PathBuf,
    photos: std::path::PathBuf,
    truth: std::path::PathBuf,
    enrol_upscale: u32,
    flip: bool,
    json: bool,
}

fn eval_attendance(
    a: &AttendanceArgs,
    vision: &crate::config::VisionSettings,
    cache: &std::path::Path,
) -> anyhow::Result<()> {
    use crate::service::evaluation as ev;
    use std::io::{IsTerminal, Write};
    let text = std::fs::read_to_string(&a.truth)
        .with_context(|| format!("reading {}", a.truth.display()))?;
    let truth = ev::parse_truth(&text)?;
    let class = ev::enrolment_list(&a.enrol, &a.photos)?;
    let mut pipeline_options = vision.pipeline_options()?;
    pipeline_options.engine.flip = a.flip;
    let pipeline = crate::vision::pipeline::Pipeline::load(cache, pipeline_options)
        .context("loading the face models (run scripts/setup)")?;
    let options = ev::Options {
        thresholds: crate::matching::Thresholds::new(0.50, 0.60)?,
        enrol_upscale: a.enrol_upscale,
    };
    let json = a.json;
    let tty = std::io::stderr().is_terminal();
    let mut n = 0;
    let r = ev::attendance(
        &pipeline,
        &class,
        &a.photos,
        &truth,
        &options,
        |stage, _| {
            n += 1;
            if tty {
                eprint!("\r{stage} {n} photos");
                let _ = std::io::stderr().flush();
            }
        },
    )?;
    if tty {
        eprintln!();
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&r)?)?;
        return Ok(());
    }
    let reasons = |m: &std::collections::BTreeMap<&str, usize>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    outln!(
        "enrolment: {} photos, {} accepted, {} refused ({})",
        r.enrolment_photos,
        r.enrolment_accepted,
        r.enrolment_photos - r.enrolment_accepted,
        reasons(&r.enrolment_refused)
    )?;
    for (person, e) in &r.per_person {
        if e.refused.is_empty() {
            outln!("  {person}: {} samples", e.accepted)?;
        } else {
            outln!(
                "  {person}: {} samples, refused {}",
                e.accepted,
                reasons(&e.refused)
            )?;
        }
    }
    for f in &r.refusals {
        outln!("  refused {} ({}): {}", f.photo, f.reason, f.message)?;
    }
    outln!(
        "marked: {} photos, {} faces; {} truth lines of {} enrolled persons, {} of strangers",
        r.photos,
        r.faces,
        r.truth_persons,
        r.enrolled,
        r.stranger_lines
    )?;
    outln!(
        "present: {} true, {} false; not present: {} ({} never detected)",
        r.true_present,
        r.false_present,
        r.false_negative,
        r.never_detected
    )?;
    outln!(
        "uncertain: {} right person, {} wrong person",
        r.uncertain_true,
        r.uncertain_false
    )?;
    for m in &r.mistakes {
        outln!(
            "  FALSE PRESENT {} {:?}: marked {} at {:.3}, truth {}",
            m.photo,
            m.bbox,
            m.marked_as,
            m.distance.unwrap_or(f32::NAN),
            m.truth.as_deref().unwrap_or("-")
        )?;
    }
    for m in &r.missed {
        outln!("  missed {m}")?;
    }
    let (same, diff) = (&r.scores.same, &r.scores.different);
    let (sm, smed) = ev::mean_median(same);
    let (dm, dmed) = ev::mean_median(diff);
    outln!(
        "distances of attributable faces: same {} (mean {sm:.3}, median {smed:.3}), different {} (mean {dm:.3}, median {dmed:.3})",
        same.len(),
        diff.len()
    )?;
    for t in [0.5f32, 0.6] {
        outln!(
            "  at {t:.2}: TAR {:.4}, FAR {:.4}",
            ev::share_within(same, t),
            ev::share_within(diff, t)
        )?;
    }
    outln!(
        "mark time per photo: median {:.0} ms, p90 {:.0} ms",
        r.mark_ms_median,
        r.mark_ms_p90
    )?;
    outln!("confident recall: {:.4}", r.confident_recall)?;
    Ok(())
}

/// Photos (by extension) under `dir`, sorted.
fn photos_under(dir: &std::path::Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    const EXT: [&str; 9] = [
        "jpg", "jpeg", "png", "webp", "gif", "bmp", "heic", "heif", "avif",
    ];
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            out.extend(photos_under(&path)?);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXT.contains(&e.to_ascii_lowercase().as_str()))
        {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// What the gate said about one variant of a folder's photos.
#[derive(Default)]
struct GateTally {
    photos: usize,
    accepted: usize,
    refused: std::collections::BTreeMap<&'static str, usize>,
    /// Of every face measured (accepted or refused as blurred).
    sharpness: Vec<f64>,
    seconds: f64,
}

impl GateTally {
    fn add(
        &mut self,
        got: &Result<crate::service::faces::Checked, crate::service::faces::GateError>,
        started: std::time::Instant,
    ) -> anyhow::Result<()> {
        use crate::service::faces::{GateError, Refusal};
        self.photos += 1;
        self.seconds += started.elapsed().as_secs_f64();
        match got {
            Ok(c) => {
                self.accepted += 1;
                self.sharpness.push(c.sharpness());
            }
            Err(GateError::Refused(r)) => {
                *self.refused.entry(r.key()).or_default() += 1;
                if let Refusal::Blurred { sharpness } = r {
                    self.sharpness.push(*sharpness);
                }
            }
            Err(GateError::Failed(e)) => anyhow::bail!("the gate failed: {e}"),
        }
        Ok(())
    }

    fn row(&mut self, set: &str, variant: &str) -> String {
        self.sharpness.sort_by(f64::total_cmp);
        let q = |p: f64| {
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let i = ((self.sharpness.len().saturating_sub(1)) as f64 * p).round() as usize;
            self.sharpness
                .get(i)
                .map_or("-".into(), |v| format!("{v:.0}"))
        };
        let refused: Vec<String> = self
            .refused
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let per = self.seconds / self.photos.max(1) as f64;
        format!(
            "| {set} | {variant} | {} | {} | {} | {} / {} / {} / {} / {} | {per:.2} |",
            self.photos,
            self.accepted,
            if refused.is_empty() {
                "-".into()
            } else {
                refused.join(", ")
            },
            q(0.0),
            q(0.05),
            q(0.5),
            q(0.95),
            q(1.0),
        )
    }
}

/// `rollcall eval enrol`.
fn eval_enrol(args: &EvalEnrol) -> anyhow::Result<()> {
    use crate::service::faces::{self, GateError};
    let options = args.vision.pipeline_options()?;
    let pipeline = crate::vision::pipeline::Pipeline::load(&args.cache.resolve(), options)?;
    outln!(
        "| set | variant | photos | accepted | refused | sharpness min / p5 / p50 / p95 / max | s per photo |"
    )?;
    outln!("|---|---|---|---|---|---|---|")?;
    for dir in &args.dirs {
        let set = dir.display().to_string();
        let mut tallies: Vec<GateTally> = std::iter::repeat_with(GateTally::default)
            .take(args.blur.len() + 1)
            .collect();
        for path in photos_under(dir)? {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let started = std::time::Instant::now();
            let got = faces::gate(&pipeline, bytes.clone());
            tallies[0].add(&got, started)?;
            if args.verbose {
                match &got {
                    Err(GateError::Refused(r)) => {
                        eprintln!("{}: {} ({r})", path.display(), r.key());
                    }
                    Ok(c) => eprintln!(
                        "{}: accepted ({} px, sharpness {:.0})",
                        path.display(),
                        faces::face_width(c.bbox()),
                        c.sharpness()
                    ),
                    Err(GateError::Failed(_)) => {}
                }
            }
            let Ok(checked) = got else { continue };
            if args.blur.is_empty() {
                continue;
            }
            let img = crate::vision::decode::decode(&bytes, &options.limits)?;
            let [l, t, r, b] = checked.bbox();
            let w = faces::face_width(checked.bbox());
            let margin = w / 2;
            let region = [l - margin, t - margin, r + margin, b + margin];
            #[allow(clippy::cast_precision_loss)]
            let factor = (w as f32 / 128.0).max(1.0);
            for (blur, tally) in args.blur.iter().zip(&mut tallies[1..]) {
                let copy = blur.scaled(factor).apply(&img, region).to_jpeg(95)?;
                let started = std::time::Instant::now();
                let got = faces::gate(&pipeline, copy);
                tally.add(&got, started)?;
                if args.verbose
                    && let Ok(c) = &got
                {
                    eprintln!(
                        "{} {blur}: still accepted (sharpness {:.0})",
                        path.display(),
                        c.sharpness()
                    );
                }
            }
        }
        outln!("{}", tallies[0].row(&set, "as is"))?;
        for (blur, tally) in args.blur.iter().zip(&mut tallies[1..]) {
            outln!("{}", tally.row(&set, &blur.to_string()))?;
        }
    }
    Ok(())
}

/// An `eval boxes` setting: `auto[:PX[:FRACTION]]`, `whole[:PX[:FRACTION]]` or 0-2, the
/// smallest face defaulting to the vision settings'.
fn eval_mode(
    mode: &str,
    vision: &crate::config::VisionSettings,
) -> anyhow::Result<crate::vision::pipeline::Upsample> {
    use crate::vision::pipeline::Upsample;
    let mut parts = mode.split(':');
    let kind = parts.next().unwrap_or_default();
    let px = match parts.next() {
        Some(v) => v
            .parse()
            .with_context(|| format!("{mode:?}: smallest face"))?,
        None => vision.min_face_px,
    };
    let fraction = match parts.next() {
        Some(v) => v.parse().with_context(|| format!("{mode:?}: fraction"))?,
        None => vision.min_face_fraction,
    };
    Ok(match kind {
        "auto" => Upsample::Propose {
            min_face_px: px,
            min_face_fraction: fraction,
        },
        "refine" => Upsample::Refine {
            min_face_px: px,
            min_face_fraction: fraction,
        },
        "whole" => Upsample::Auto {
            min_face_px: px,
            min_face_fraction: fraction,
        },
        n => n.parse::<Upsample>().map_err(anyhow::Error::msg)?,
    })
}
