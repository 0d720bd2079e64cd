//! `node`: parses the command line and hands off to the library.

use clap::Parser;

/// concord agent: a Consul-style cluster agent (Raft servers, gossiping
/// clients, a replicated key/value store).
#[derive(Parser, Debug)]
#[command(name = "node", version, about, long_about = None)]
struct Cli {
    /// Log level: trace, debug, info, warn or err (overrides RUST_LOG).
    #[arg(long, value_name = "LEVEL", global = true)]
    log_level: Option<String>,
}

fn main() {
    let cli = Cli::parse();
    if let Err(err) = concord::logging::init(cli.log_level.as_deref()) {
        eprintln!("Error: {err}");
        std::process::exit(1);
    }
    eprintln!("Error: the agent is not built yet; see README.md");
    std::process::exit(1);
}
