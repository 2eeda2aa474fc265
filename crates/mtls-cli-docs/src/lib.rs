//! Shell completions and man pages, generated from a binary's clap definition so that they
//! can never drift from the real flags and subcommands.
//!
//! `mtlsd generate-docs --out DIR` and `tenantctl generate-docs --out DIR` write them. That
//! subcommand is added to the command only for parsing ([`with_generate_subcommand`]); the
//! files are generated from the command without it ([`run_if_requested`]), so it appears in no
//! `--help`, completion or man page (clap_complete would list even a hidden subcommand). The
//! layout under `DIR` matches where distributions install these files:
//!
//! ```text
//! DIR/completions/bash/NAME        -> /usr/share/bash-completion/completions/NAME
//! DIR/completions/zsh/_NAME        -> /usr/share/zsh/vendor-completions/_NAME
//! DIR/completions/fish/NAME.fish   -> /usr/share/fish/vendor_completions.d/NAME.fish
//! DIR/man/NAME.1, NAME-SUB.1, ...  -> /usr/share/man/man1/
//! ```
//!
//! # Example
//!
//! ```
//! let dir = tempfile::tempdir()?;
//! let cmd = clap::Command::new("demo")
//!     .about("A demo")
//!     .subcommand(clap::Command::new("serve").about("Serve"));
//! let written = mtls_cli_docs::generate(cmd, dir.path())?;
//! assert!(written.iter().any(|p| p.ends_with("man/demo-serve.1")));
//! assert!(std::fs::read_to_string(dir.path().join("completions/bash/demo"))?.contains("serve"));
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap_complete::Shell;

/// The name of the subcommand [`with_generate_subcommand`] adds.
pub const SUBCOMMAND: &str = "generate-docs";

/// `cmd` plus `generate-docs --out DIR`, hidden: parse with this, generate from `cmd`.
pub fn with_generate_subcommand(cmd: clap::Command) -> clap::Command {
    cmd.subcommand(
        clap::Command::new(SUBCOMMAND)
            .hide(true)
            .about("Write shell completions and man pages into a directory (packaging)")
            .arg(
                clap::Arg::new("out")
                    .long("out")
                    .value_name("DIR")
                    .required(true)
                    .value_parser(clap::value_parser!(PathBuf))
                    .help("Directory to write completions/{bash,zsh,fish}/ and man/ into"),
            ),
    )
}

/// When `matches` (parsed by [`with_generate_subcommand`]) chose `generate-docs`: writes the
/// files for `public`, the command without that subcommand, prints one path per line and
/// returns the exit status (1 with a message on stderr if a file cannot be written).
/// `None` for any other command line.
pub fn run_if_requested(
    matches: &clap::ArgMatches,
    public: clap::Command,
) -> Option<std::process::ExitCode> {
    let (SUBCOMMAND, sub) = matches.subcommand()? else {
        return None;
    };
    let out = sub.get_one::<PathBuf>("out").expect("--out is required");
    let name = public.get_name().to_owned();
    Some(match generate(public, out) {
        Ok(files) => {
            let mut stdout = io::stdout().lock();
            for f in files {
                let _ = writeln!(stdout, "{}", f.display());
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{name} {SUBCOMMAND}: {}: {e}", out.display());
            std::process::ExitCode::FAILURE
        }
    })
}

/// The shells completions are written for, with the file name each expects for `name`.
const SHELLS: [(Shell, &str); 3] = [(Shell::Bash, ""), (Shell::Zsh, "_"), (Shell::Fish, "")];

/// Writes the completions for bash, zsh and fish and one man page per visible (sub)command
/// of `cmd` under `out` (layout in the crate doc), creating directories as needed.
/// Returns the files written, in a stable order. Existing files are overwritten.
pub fn generate(cmd: clap::Command, out: &Path) -> io::Result<Vec<PathBuf>> {
    let mut cmd = cmd;
    cmd.build();
    let name = cmd.get_name().to_owned();
    let mut written = Vec::new();
    for (shell, prefix) in SHELLS {
        let dir = out.join("completions").join(shell.to_string());
        fs::create_dir_all(&dir)?;
        let suffix = if shell == Shell::Fish { ".fish" } else { "" };
        let path = dir.join(format!("{prefix}{name}{suffix}"));
        let mut file = BufWriter::new(File::create(&path)?);
        clap_complete::generate(shell, &mut cmd, name.clone(), &mut file);
        file.flush()?;
        written.push(path);
    }
    let man = out.join("man");
    fs::create_dir_all(&man)?;
    write_man_pages(&cmd, &man, &mut written)?;
    Ok(written)
}

/// One page for `cmd`, then one per visible subcommand, recursively. A built command's
/// subcommands carry display names like `tenantctl-tenant-create`: that is each page's title
/// and file name (what clap_mangen's own `generate_to` does, but returning the paths).
fn write_man_pages(cmd: &clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> io::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone().disable_help_subcommand(true));
    let path = dir.join(man.get_filename());
    let mut file = BufWriter::new(File::create(&path)?);
    man.render(&mut file)?;
    file.flush()?;
    written.push(path);
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        write_man_pages(sub, dir, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
