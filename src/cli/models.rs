//! `rollcall models`: the face model files.

use clap::Subcommand;

use super::common::CacheArg;

/// Model files: verify them and convert dlib's ResNet to ONNX.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Verify the fetched dlib files and write `<cache>/models/resnet.onnx` (idempotent).
    Convert {
        #[command(flatten)]
        cache: CacheArg,
    },
}

impl ModelsCommand {
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            ModelsCommand::Convert { cache } => {
                let files = crate::vision::models::ensure(&cache.resolve().join("models"))?;
                outln!("{}", files.resnet_onnx.display())?;
                outln!("{}", files.mmod_onnx.display())?;
                Ok(())
            }
        }
    }
}
