//! The command line: `serve` runs the server; `openapi` prints the API document.

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::App;
use crate::config::Settings;
use crate::domain::Role;

#[derive(Debug, Parser)]
#[command(
    name = "rollcall",
    version,
    about = "Face-recognition school attendance server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(Box<Settings>),
    /// Print the OpenAPI document (JSON) to stdout.
    Openapi,
    /// Model files: verify them and convert dlib's ResNet to ONNX.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Print the 5 landmarks and the 128-d embedding of one face box in an image, as JSON.
    Embed {
        /// Image file (JPEG, PNG).
        image: std::path::PathBuf,
        /// dlib's inclusive rectangle LEFT,TOP,RIGHT,BOTTOM, as a detector returns it
        /// (values may be negative or beyond the image).
        #[arg(long = "box", value_name = "L,T,R,B", allow_hyphen_values = true)]
        face_box: String,
        #[command(flatten)]
        cache: CacheArg,
    },
    /// Find every face in a photo and print boxes, landmarks and embeddings as JSON, with
    /// timings (`--repeat` runs the whole photo path that many times).
    Faces {
        /// Photo (JPEG, PNG, WebP, GIF, BMP), decoded as an upload would be.
        image: std::path::PathBuf,
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        /// Analyse as a portrait or live webcam frame (faces of at least 80 px and 10% of the
        /// longer side), as enrolment and live attendance do.
        #[arg(long)]
        portrait: bool,
        #[command(flatten)]
        vision: crate::config::VisionSettings,
        #[command(flatten)]
        cache: CacheArg,
    },
    /// Accuracy on public data sets.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Enrol students' faces from a folder: `<roll, e-mail or id>.<jpg|png|webp|gif|bmp>`, or a
    /// sub-folder named by roll, e-mail or id holding several photos. The students must exist. Every photo is
    /// checked as an upload is (one sharp face of at least 40 px); up to 30 are kept (the near-duplicates go).
    /// Exits non-zero if any photo was not enrolled.
    Enroll {
        /// Folder of photos.
        folder: std::path::PathBuf,
        /// Data directory of the server (safe while it runs).
        #[arg(long, env = "ROLLCALL_DATA_DIR", default_value = "data")]
        data_dir: std::path::PathBuf,
        /// Record biometric consent for these students (the school holds their signed forms),
        /// as `rollcall consent --record` does (audited, with the notice's SHA-256).
        #[arg(long)]
        record_consent: bool,
        #[command(flatten)]
        notice: NoticeArg,
        /// Refuse students whose consent is not recorded (as the server does).
        #[arg(long, env = "ROLLCALL_REQUIRE_CONSENT", default_value_t = true, action = clap::ArgAction::Set)]
        require_consent: bool,
        /// Also enrol every student of the folder in this subject (by code; it must exist).
        #[arg(long, value_name = "CODE")]
        subject: Option<String>,
        /// Create a student account for a folder that names no student: roll = the folder
        /// name, name = the folder name with `_` as spaces, e-mail = `<roll>@<--email-domain>`
        /// (a random password; the student sets one with "forgot password").
        #[arg(long)]
        create_missing: bool,
        /// Domain of the e-mail addresses `--create-missing` gives.
        #[arg(long, default_value = "students.invalid")]
        email_domain: String,
        #[command(flatten)]
        vision: crate::config::VisionSettings,
        #[command(flatten)]
        cache: CacheArg,
    },
    /// Move a school from the seed system (Smart Attendance): import its MongoDB export
    /// (`<collection>.json` files from `mongoexport`, as a JSON array or one document per line)
    /// into the database, one transaction per collection. The whole export is checked first; if
    /// anything is wrong the report goes to stderr, the exit status is non-zero and nothing is
    /// written. Importing the same export again changes nothing.
    ImportSeed {
        /// Folder holding users.json, teachers.json, students.json, subjects.json,
        /// attendance_daily.json and email_logs.json.
        dir: std::path::PathBuf,
        /// Data directory of the server (the database is created if there is none).
        #[arg(long, env = "ROLLCALL_DATA_DIR", default_value = "data")]
        data_dir: std::path::PathBuf,
        /// After the import, enrol students' faces from this folder of photos named by the
        /// student's e-mail address or seed id (as `rollcall enroll` does).
        #[arg(long, value_name = "DIR")]
        faces: Option<std::path::PathBuf>,
        /// With `--faces`: record biometric consent for those students (the school holds their
        /// signed forms), as `rollcall consent --record` does.
        #[arg(long)]
        record_consent: bool,
        #[command(flatten)]
        notice: NoticeArg,
        /// Check the export and report what would be imported, without writing anything.
        #[arg(long, conflicts_with = "faces")]
        dry_run: bool,
        #[command(flatten)]
        vision: crate::config::VisionSettings,
        #[command(flatten)]
        cache: CacheArg,
    },
    /// Record biometric consent for the students of a list of signed forms: one e-mail address
    /// or roll number per line (blank lines and `#` comments are skipped). Each is recorded as
    /// `POST /api/students/{id}/consent` records it (the same audit entry, `student.consent`,
    /// with the notice's SHA-256, actor: the operator, `via cli`); consent already recorded is
    /// left alone. Prints recorded / already recorded / unknown lines; exits non-zero if any
    /// line named no student. Safe while the server runs.
    Consent {
        /// The list of students whose signed forms the school holds.
        #[arg(long, value_name = "FILE", required_unless_present = "withdraw")]
        record: Option<std::path::PathBuf>,
        /// Instead: withdraw the consent of the students of this list (their face samples and
        /// photos are deleted).
        #[arg(long, value_name = "FILE", conflicts_with = "record")]
        withdraw: Option<std::path::PathBuf>,
        /// Data directory of the server.
        #[arg(long, env = "ROLLCALL_DATA_DIR", default_value = "data")]
        data_dir: std::path::PathBuf,
        #[command(flatten)]
        notice: NoticeArg,
    },
    /// Write a backup folder: a consistent copy of the database (`VACUUM INTO`, safe while the
    /// server runs), then the face images and avatars it refers to, and the signing secret.
    Backup {
        /// Data directory of the server.
        #[arg(long, env = "ROLLCALL_DATA_DIR", default_value = "data")]
        data_dir: std::path::PathBuf,
        /// Folder to create (must not exist).
        out: std::path::PathBuf,
    },
    /// Restore a backup folder into an empty data directory (stop the server first).
    Restore {
        /// Data directory to restore into; must hold no database.
        #[arg(long, env = "ROLLCALL_DATA_DIR", default_value = "data")]
        data_dir: std::path::PathBuf,
        /// Folder written by `rollcall backup`.
        backup: std::path::PathBuf,
    },
    /// The e-mail outbox: list messages that could not be delivered, retry them (safe while
    /// the server runs; its worker sends retried messages on its next poll).
    #[command(subcommand)]
    Mail(MailCommand),
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Messages given up on (dead), newest first: id, kind, recipient, attempts, last error.
    Dead {
        #[arg(long, env = "ROLLCALL_DATA_DIR", default_value = "data")]
        data_dir: std::path::PathBuf,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Give dead messages a fresh set of attempts, due now: the one `ID`, or all with `--all`.
    Retry {
        #[arg(long, env = "ROLLCALL_DATA_DIR", default_value = "data")]
        data_dir: std::path::PathBuf,
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Verify the fetched dlib files and write `<cache>/models/resnet.onnx` (idempotent).
    Convert {
        #[command(flatten)]
        cache: CacheArg,
    },
}

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

#[derive(Debug, clap::Args)]
pub struct CacheArg {
    /// Directory `scripts/setup` filled (default: `.cache` here or beside the repository).
    #[arg(long, env = "ROLLCALL_CACHE_DIR")]
    pub cache_dir: Option<std::path::PathBuf>,
}

impl CacheArg {
    fn resolve(&self) -> std::path::PathBuf {
        self.cache_dir
            .clone()
            .unwrap_or_else(crate::config::default_cache_dir)
    }
}

pub fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve(settings) => serve(*settings),
        Command::Openapi => {
            let (_, doc) = crate::api::documented();
            println!("{}", doc.to_pretty_json()?);
            Ok(())
        }
        Command::Models(ModelsCommand::Convert { cache }) => {
            let files = crate::vision::models::ensure(&cache.resolve().join("models"))?;
            println!("{}", files.resnet_onnx.display());
            println!("{}", files.mmod_onnx.display());
            Ok(())
        }
        Command::Embed {
            image,
            face_box,
            cache,
        } => embed(&image, &face_box, &cache.resolve()),
        Command::Faces {
            image,
            repeat,
            portrait,
            vision,
            cache,
        } => faces(&image, repeat, portrait, &vision, &cache.resolve()),
        Command::Eval(cmd) => eval(cmd),
        Command::Enroll {
            folder,
            data_dir,
            record_consent,
            notice,
            require_consent,
            subject,
            create_missing,
            email_domain,
            vision,
            cache,
        } => enroll(&EnrollOptions {
            folder,
            data_dir,
            record_consent: record_consent.then_some(notice.consent_notice),
            require_consent,
            subject,
            create_missing,
            email_domain,
            vision,
            cache: cache.resolve(),
        }),
        Command::Mail(command) => mail(command),
        Command::ImportSeed {
            dir,
            data_dir,
            faces,
            record_consent,
            notice,
            dry_run,
            vision,
            cache,
        } => {
            import_seed(&dir, &data_dir, dry_run)?;
            match faces {
                Some(folder) if !dry_run => enroll(&EnrollOptions {
                    folder,
                    data_dir,
                    record_consent: record_consent.then_some(notice.consent_notice),
                    require_consent: true,
                    subject: None,
                    create_missing: false,
                    email_domain: String::new(),
                    vision,
                    cache: cache.resolve(),
                }),
                _ => Ok(()),
            }
        }
        Command::Consent {
            record,
            withdraw,
            data_dir,
            notice,
        } => match (record, withdraw) {
            (Some(list), _) => consent(&list, &data_dir, Some(&notice.consent_notice)),
            (None, Some(list)) => consent(&list, &data_dir, None),
            (None, None) => anyhow::bail!("give --record FILE or --withdraw FILE"),
        },
        Command::Backup { data_dir, out } => {
            let report = crate::storage::backup::write(&data_dir, &out)?;
            println!(
                "backup written to {}: database, {} face images, {} avatars",
                out.display(),
                report.images,
                report.avatars
            );
            Ok(())
        }
        Command::Restore { data_dir, backup } => {
            let report = crate::storage::backup::restore(&backup, &data_dir)?;
            println!(
                "restored {} into {}: database (integrity ok), {} face images, {} avatars",
                backup.display(),
                data_dir.display(),
                report.images,
                report.avatars
            );
            Ok(())
        }
    }
}

fn open_db(data_dir: &std::path::Path) -> anyhow::Result<crate::storage::Db> {
    let path = data_dir.join(crate::config::DATABASE_FILE);
    anyhow::ensure!(path.is_file(), "no database at {}", path.display());
    crate::storage::Db::open(&path)
}

fn import_seed(
    dir: &std::path::Path,
    data_dir: &std::path::Path,
    dry_run: bool,
) -> anyhow::Result<()> {
    let db = crate::storage::Db::open(&data_dir.join(crate::config::DATABASE_FILE))?;
    let report = db
        .run_blocking(|c| {
            Ok::<_, crate::storage::StorageError>(crate::service::import_seed::run(c, dir, dry_run))
        })?
        .context("importing the seed export")?;
    if !report.is_ok() {
        eprint!("{report}");
        anyhow::bail!(
            "the export in {} was not imported: {} problem(s)",
            dir.display(),
            report.problems.len()
        );
    }
    print!("{report}");
    Ok(())
}

/// `rollcall consent`: record (with the notice) or withdraw (`notice` None) the consent of every
/// student a line of `list` names, through the same service function as the API.
fn consent(
    list: &std::path::Path,
    data_dir: &std::path::Path,
    notice: Option<&str>,
) -> anyhow::Result<()> {
    use crate::service::Actor;
    use crate::service::students::{self, ConsentRules};
    let text =
        std::fs::read_to_string(list).with_context(|| format!("reading {}", list.display()))?;
    let db = open_db(data_dir)?;
    let rules = ConsentRules {
        self_consent: false,
        notice_sha256: crate::service::tokens::sha256_hex(notice.unwrap_or_default()),
    };
    let faces_dir = data_dir.join("faces");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let (mut done, mut already, mut unknown) = (0usize, 0usize, Vec::new());
    for (n, line) in text.lines().enumerate() {
        let key = line.trim();
        if key.is_empty() || key.starts_with('#') {
            continue;
        }
        let found = runtime.block_on(students::for_import(&db, Actor::Operator, key, None))?;
        let id = match found {
            Ok(id) => id,
            Err(why) => {
                let why = why.replace(" (--create-missing creates one)", "");
                unknown.push(format!("line {}: {why}", n + 1));
                continue;
            }
        };
        let changed = runtime.block_on(async {
            match notice {
                Some(_) => students::give_consent(&db, Actor::Operator, id, &rules)
                    .await
                    .map(|(_, new)| new),
                None => students::withdraw_consent(&db, &faces_dir, Actor::Operator, id)
                    .await
                    .map(|(had, _)| had),
            }
        });
        match changed {
            Ok(true) => done += 1,
            Ok(false) => already += 1,
            Err(e) => unknown.push(format!("line {}: {key}: {e}", n + 1)),
        }
    }
    let (verb, state) = if notice.is_some() {
        ("recorded", "already recorded")
    } else {
        ("withdrawn", "not recorded")
    };
    println!("{verb}: {done}");
    println!("{state}: {already}");
    println!("unknown: {}", unknown.len());
    for u in &unknown {
        println!("  {u}");
    }
    anyhow::ensure!(
        unknown.is_empty(),
        "{} line(s) of {} named no student",
        unknown.len(),
        list.display()
    );
    Ok(())
}

/// `rollcall mail`: the outbox's dead messages, and retrying them, through the same service
/// functions as the admin API (same audit entries; actor: the operator, `via cli`).
fn mail(command: MailCommand) -> anyhow::Result<()> {
    use crate::service::{Actor, mail};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match command {
        MailCommand::Dead { data_dir, limit } => {
            let db = open_db(&data_dir)?;
            let rows = runtime.block_on(mail::list_messages(&db, "dead", limit, 0))?;
            for r in &rows {
                println!(
                    "{}\t{}\t{}\t{} attempts\t{}",
                    r.id,
                    r.kind,
                    r.recipient,
                    r.attempts,
                    r.last_error.as_deref().unwrap_or("")
                );
            }
            println!("{} dead message(s)", rows.len());
        }
        MailCommand::Retry { data_dir, id, all } => {
            let db = open_db(&data_dir)?;
            let n = match (id, all) {
                (Some(id), false) => {
                    runtime
                        .block_on(mail::retry_message(&db, Actor::Operator, id))
                        .with_context(|| format!("no dead message with id {id}"))?;
                    1
                }
                _ => runtime.block_on(mail::retry_all_dead(&db, Actor::Operator))?,
            };
            println!("{n} message(s) queued again");
        }
    }
    Ok(())
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    crate::telemetry::init(settings.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        tracing::info!(settings = settings.redacted_summary(), "starting rollcall");
        let bind = settings.bind;
        let app = App::build(settings).await?;
        announce(&app);
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding {bind}"))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, "listening");
        println!("rollcall listening on http://{addr}  (API docs: http://{addr}/docs)");
        app.serve(listener, shutdown_signal())
            .await
            .context("serving")?;
        tracing::info!("stopped");
        Ok(())
    })
}

fn embed(image: &std::path::Path, face_box: &str, cache: &std::path::Path) -> anyhow::Result<()> {
    use crate::vision::engine::{EngineOptions, FaceDescriber};
    let rect = parse_box(face_box)?;
    let img = crate::vision::image::RgbImage::open(image)?;
    let describer = FaceDescriber::load(cache, EngineOptions::default())?;
    let face = describer
        .describe(&img, &[rect])?
        .pop()
        .context("no result for the box")?;
    let out = serde_json::json!({
        "landmarks": face.landmarks.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>(),
        "embedding": face.embedding.to_vec(),
    });
    println!("{out}");
    Ok(())
}

fn faces(
    image: &std::path::Path,
    repeat: usize,
    portrait: bool,
    vision: &crate::config::VisionSettings,
    cache: &std::path::Path,
) -> anyhow::Result<()> {
    use crate::vision::pipeline::{Pipeline, Subject};
    let subject = if portrait {
        Subject::Portrait
    } else {
        Subject::Class
    };
    let bytes = std::fs::read(image).with_context(|| format!("reading {}", image.display()))?;
    let started = std::time::Instant::now();
    let pipeline = Pipeline::load(cache, vision.pipeline_options()?)?;
    let load_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..repeat.max(1) {
        let t = std::time::Instant::now();
        let analysis = pipeline.faces_of(&bytes, subject)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        last = Some(analysis);
    }
    let analysis = last.context("no run")?;
    let faces: Vec<_> = analysis
        .faces
        .iter()
        .map(|f| {
            serde_json::json!({
                "box": [f.rect.left, f.rect.top, f.rect.right, f.rect.bottom],
                "score": f.score,
                "landmarks": f.landmarks.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>(),
                "embedding": f.embedding.to_vec(),
            })
        })
        .collect();
    let out = serde_json::json!({
        "width": analysis.width,
        "height": analysis.height,
        "faces": faces,
        "load_ms": load_ms,
        "ms": times,
    });
    println!("{out}");
    Ok(())
}

fn eval(cmd: EvalCommand) -> anyhow::Result<()> {
    use crate::vision::eval;
    use crate::vision::pipeline::{Pipeline, Upsample};
    use std::io::Write;
    match cmd {
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
            println!(
                "pairs: {} ({same} same, {} different), images: {}, {:.1} s",
                report.pairs,
                report.pairs - same,
                report.images,
                started.elapsed().as_secs_f64()
            );
            println!(
                "no face detected (centred box used instead): {} of {} images",
                report.fallbacks, report.images
            );
            println!(
                "best threshold on these pairs: {:.3} (accuracy {:.4})",
                report.best_threshold, report.best_accuracy
            );
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
                println!(
                    "distance same: mean {sm:.3}, median {smed:.3}; different: mean {dm:.3}, median {dmed:.3}"
                );
                for t in [0.5f32, 0.6] {
                    println!(
                        "at {t:.2}: TAR {:.4}, FAR {:.4}",
                        share_within(&same_d, t),
                        share_within(&diff_d, t)
                    );
                }
            }
            #[allow(clippy::cast_precision_loss)]
            let per_face = report.describe_secs * 1e3 / report.images.max(1) as f64;
            println!(
                "landmarks + chip + embedding: {per_face:.1} ms per face{}",
                if flip { " (with flip)" } else { "" }
            );
            println!("accuracy: {:.4}", report.accuracy_at_06);
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
                let got = eval::boxes_compared(&pipeline, &labelled, dir, &rules, scale, repeat)?;
                for (run, g) in runs.iter_mut().zip(got) {
                    run.counts.truth += g.counts.truth;
                    run.counts.detected += g.counts.detected;
                    run.counts.matched += g.counts.matched;
                    run.ms.extend(g.ms);
                }
            }
            println!(
                "| setting | faces labelled | detected | matched | recall | precision | median ms per photo | time / first setting |"
            );
            println!("|---|---|---|---|---|---|---|---|");
            let first = runs.first().map(|r| r.ms.clone()).unwrap_or_default();
            for (mode, run) in modes.iter().zip(&runs) {
                let mut ratios: Vec<f64> = run
                    .ms
                    .iter()
                    .zip(&first)
                    .map(|(a, b)| a / b.max(1e-9))
                    .collect();
                let c = run.counts;
                println!(
                    "| {mode} | {} | {} | {} | {:.3} | {:.3} | {:.0} | {:.2} |",
                    c.truth,
                    c.detected,
                    c.matched,
                    c.recall(),
                    c.precision(),
                    eval::median(&mut run.ms.clone()),
                    eval::median(&mut ratios)
                );
            }
            Ok(())
        }
    }
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
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let reasons = |m: &std::collections::BTreeMap<&str, usize>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "enrolment: {} photos, {} accepted, {} refused ({})",
        r.enrolment_photos,
        r.enrolment_accepted,
        r.enrolment_photos - r.enrolment_accepted,
        reasons(&r.enrolment_refused)
    );
    for (person, e) in &r.per_person {
        if e.refused.is_empty() {
            println!("  {person}: {} samples", e.accepted);
        } else {
            println!(
                "  {person}: {} samples, refused {}",
                e.accepted,
                reasons(&e.refused)
            );
        }
    }
    for f in &r.refusals {
        println!("  refused {} ({}): {}", f.photo, f.reason, f.message);
    }
    println!(
        "marked: {} photos, {} faces; {} truth lines of {} enrolled persons, {} of strangers",
        r.photos, r.faces, r.truth_persons, r.enrolled, r.stranger_lines
    );
    println!(
        "present: {} true, {} false; not present: {} ({} never detected)",
        r.true_present, r.false_present, r.false_negative, r.never_detected
    );
    println!(
        "uncertain: {} right person, {} wrong person",
        r.uncertain_true, r.uncertain_false
    );
    for m in &r.mistakes {
        println!(
            "  FALSE PRESENT {} {:?}: marked {} at {:.3}, truth {}",
            m.photo,
            m.bbox,
            m.marked_as,
            m.distance.unwrap_or(f32::NAN),
            m.truth.as_deref().unwrap_or("-")
        );
    }
    for m in &r.missed {
        println!("  missed {m}");
    }
    let (same, diff) = (&r.scores.same, &r.scores.different);
    let (sm, smed) = ev::mean_median(same);
    let (dm, dmed) = ev::mean_median(diff);
    println!(
        "distances of attributable faces: same {} (mean {sm:.3}, median {smed:.3}), different {} (mean {dm:.3}, median {dmed:.3})",
        same.len(),
        diff.len()
    );
    for t in [0.5f32, 0.6] {
        println!(
            "  at {t:.2}: TAR {:.4}, FAR {:.4}",
            ev::share_within(same, t),
            ev::share_within(diff, t)
        );
    }
    println!(
        "mark time per photo: median {:.0} ms, p90 {:.0} ms",
        r.mark_ms_median, r.mark_ms_p90
    );
    println!("confident recall: {:.4}", r.confident_recall);
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
    println!(
        "| set | variant | photos | accepted | refused | sharpness min / p5 / p50 / p95 / max | s per photo |"
    );
    println!("|---|---|---|---|---|---|---|");
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
        println!("{}", tallies[0].row(&set, "as is"));
        for (blur, tally) in args.blur.iter().zip(&mut tallies[1..]) {
            println!("{}", tally.row(&set, &blur.to_string()));
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

/// `L,T,R,B` as four integers.
fn parse_box(raw: &str) -> anyhow::Result<crate::vision::Rect> {
    let v: Vec<i64> = raw
        .split(',')
        .map(|s| s.trim().parse::<i64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--box {raw:?}: expected four integers L,T,R,B"))?;
    match v[..] {
        [l, t, r, b] if r >= l && b >= t => Ok(crate::vision::Rect::new(l, t, r, b)),
        [_, _, _, _] => anyhow::bail!("--box {raw:?}: right must be >= left and bottom >= top"),
        _ => anyhow::bail!("--box {raw:?}: expected four integers L,T,R,B"),
    }
}

/// Tell the operator, on the console, about accounts created at start-up.
fn announce(app: &App) {
    let b = &app.bootstrap;
    if let Some((email, generated)) = &b.admin {
        match generated {
            Some(pw) => println!(
                "\n  First administrator created: {email}\n  One-time password (shown only now, change it after logging in): {pw}\n"
            ),
            None => println!("\n  First administrator created: {email}\n"),
        }
    }
    for (role, email) in &b.demo {
        let kind = match role {
            Role::Teacher => "teacher",
            Role::Student => "student",
            Role::Admin => "admin",
        };
        println!(
            "  Demo {kind}: {email} / {}",
            crate::service::accounts::DEMO_PASSWORD
        );
    }
    if !b.demo.is_empty() {
        if let Some((email, None)) = &b.admin {
            println!(
                "  Demo admin: {email} / {}",
                crate::service::accounts::DEMO_PASSWORD
            );
        }
        println!();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested");
}

/// The photos of a folder, each with the student key (roll or e-mail) it belongs to.
fn enrolment_photos(folder: &std::path::Path) -> anyhow::Result<Vec<(String, std::path::PathBuf)>> {
    let is_photo = |p: &std::path::Path| {
        p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            ["jpg", "jpeg", "png", "webp", "gif", "bmp"].contains(&e.to_ascii_lowercase().as_str())
        })
    };
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(folder)
        .with_context(|| format!("reading {}", folder.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::path);
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            let key = entry.file_name().to_string_lossy().into_owned();
            let mut inner: Vec<_> = std::fs::read_dir(&path)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && is_photo(p))
                .collect();
            inner.sort();
            out.extend(inner.into_iter().map(|p| (key.clone(), p)));
        } else if is_photo(&path)
            && let Some(stem) = path.file_stem()
        {
            out.push((stem.to_string_lossy().into_owned(), path.clone()));
        }
    }
    Ok(out)
}

/// The consent notice the school's forms agree to, as the server is configured.
#[derive(clap::Args, Debug)]
pub struct NoticeArg {
    /// The notice the forms agreed to (its SHA-256 goes into the audit entry).
    #[arg(long, env = "ROLLCALL_CONSENT_NOTICE", default_value = crate::config::DEFAULT_CONSENT_NOTICE)]
    consent_notice: String,
}

/// Record a student's consent from a signed form held by the school, through the service the API
/// uses (same audit entry, actor: the operator).
fn record_consent(
    runtime: &tokio::runtime::Runtime,
    db: &crate::storage::Db,
    student: &crate::domain::Id,
    notice: &str,
) -> anyhow::Result<()> {
    use crate::service::Actor;
    use crate::service::students::{self, ConsentRules};
    let rules = ConsentRules {
        self_consent: false,
        notice_sha256: crate::service::tokens::sha256_hex(notice),
    };
    runtime.block_on(students::give_consent(
        db,
        Actor::Operator,
        student.clone(),
        &rules,
    ))?;
    Ok(())
}

struct EnrollOptions {
    folder: std::path::PathBuf,
    data_dir: std::path::PathBuf,
    /// The notice the signed forms agreed to, when the command records consent.
    record_consent: Option<String>,
    require_consent: bool,
    subject: Option<String>,
    create_missing: bool,
    email_domain: String,
    vision: crate::config::VisionSettings,
    cache: std::path::PathBuf,
}

fn enroll(o: &EnrollOptions) -> anyhow::Result<()> {
    use crate::service::{Actor, faces};
    use crate::storage::{students, subjects};
    let path = o.data_dir.join(crate::config::DATABASE_FILE);
    anyhow::ensure!(path.is_file(), "no database at {}", path.display());
    let db = crate::storage::Db::open(&path)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let subject = match &o.subject {
        Some(code) => {
            let code = code.trim().to_uppercase();
            let found = db.run_blocking(|c| subjects::by_code(c, &code))?;
            Some(found.with_context(|| format!("no subject with code {code}"))?)
        }
        None => None,
    };
    let photos = enrolment_photos(&o.folder)?;
    anyhow::ensure!(!photos.is_empty(), "no photos in {}", o.folder.display());
    let pipeline = crate::vision::pipeline::Pipeline::load(&o.cache, o.vision.pipeline_options()?)
        .context("loading the face models (run scripts/setup)")?;
    // One random password for the accounts this run creates: nobody knows it, and each
    // student sets their own with "forgot password".
    let placeholder = if o.create_missing {
        Some(crate::service::password::hash(
            &crate::service::password::generate(),
        )?)
    } else {
        None
    };
    let create = placeholder
        .as_deref()
        .map(|hash| (o.email_domain.as_str(), hash));
    let faces_dir = o.data_dir.join("faces");
    let total = photos.len();
    let bar = indicatif::ProgressBar::new(u64::try_from(total).unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} photos {msg} [{elapsed}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut enrolled = 0usize;
    let mut rejected: Vec<(std::path::PathBuf, String)> = Vec::new();
    let mut students_seen = std::collections::BTreeSet::new();
    for (key, photo) in &photos {
        bar.set_message(key.clone());
        let outcome = (|| -> anyhow::Result<Result<String, String>> {
            let student = match runtime.block_on(crate::service::students::for_import(
                &db,
                Actor::Operator,
                key,
                create,
            ))? {
                Ok(id) => id,
                Err(why) => return Ok(Err(why)),
            };
            if let Some(subject) = &subject {
                runtime.block_on(crate::service::subjects::enrol_one(
                    &db,
                    Actor::Operator,
                    subject.id.clone(),
                    student.clone(),
                ))?;
            }
            if let Some(notice) = &o.record_consent {
                record_consent(&runtime, &db, &student, notice)?;
            } else if o.require_consent {
                let consent = db
                    .run_blocking(|c| students::get(c, &student))?
                    .and_then(|s| s.consent_at);
                if consent.is_none() {
                    return Ok(Err("no biometric consent recorded (use --record-consent if the school holds the signed form)".into()));
                }
            }
            let bytes =
                std::fs::read(photo).with_context(|| format!("reading {}", photo.display()))?;
            let checked = match faces::check(&pipeline, bytes) {
                Ok(c) => c,
                Err(e @ crate::service::Error::Internal(_)) => return Err(e.into()),
                Err(e) => return Ok(Err(e.to_string())),
            };
            let result = db.run_blocking(|c| {
                Ok::<_, crate::storage::StorageError>(faces::record(
                    c,
                    &faces_dir,
                    &student,
                    None,
                    &checked,
                    true,
                    crate::storage::faces::Source::Import,
                ))
            })?;
            match result {
                Ok((_, n)) => {
                    students_seen.insert(student.clone());
                    Ok(Ok(format!("{student}, {n} samples")))
                }
                Err(e) => Err(e.into()),
            }
        })()?;
        match outcome {
            Ok(what) => {
                enrolled += 1;
                bar.println(format!("ok    {} -> {what}", photo.display()));
            }
            Err(why) => {
                bar.println(format!("SKIP  {}: {why}", photo.display()));
                rejected.push((photo.clone(), why));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    println!(
        "enrolled {enrolled} photos of {} students{}, rejected {}",
        students_seen.len(),
        subject
            .as_ref()
            .map(|s| format!(" into {}", s.code))
            .unwrap_or_default(),
        rejected.len()
    );
    for (photo, why) in &rejected {
        println!("  rejected {}: {why}", photo.display());
    }
    anyhow::ensure!(
        rejected.is_empty(),
        "{} of {total} photos were not enrolled",
        rejected.len()
    );
    Ok(())
}
