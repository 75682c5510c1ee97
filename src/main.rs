fn main() -> std::process::ExitCode {
    keyward::cli::run()
}
