//! vf-peer: the host-side end of the model's traffic tests. Runs in the test's network
//! namespace, accepts one TCP connection, and either sinks or sources a byte stream, then
//! prints one JSON line with what it saw and how long it took.
//!
//! ```text
//! vf-peer sink   --listen ADDR:PORT --bytes N [--chunk C] [--timeout SECS]
//! vf-peer source --listen ADDR:PORT --bytes N [--timeout SECS]
//! vf-peer probe  --listen ADDR:PORT --bytes 0 [--timeout SECS] [--stop-file PATH]
//! ```
//! `probe` watches the ICMP echo requests the guest sends to ADDR (a steady `ping` stream; the
//! host's stack answers them) until one with a 999-byte payload, the end mark, and reports how
//! many came and the longest gap between two arrivals: the outage the peer saw.
//! `sink` reads until N bytes or end of stream and reports the CRC-32 of each C-byte chunk
//! (distinct values only, in order of appearance) and of the whole stream, and the bytes
//! received in each 100 ms from the first (`series`, with the first byte's wall-clock time
//! `t0_unix_ms`, for throughput-over-time plots); `source` sends N
//! pseudo-random bytes and reports their CRC-32. CRC-32 is the zlib/IEEE one that busybox
//! `crc32` prints, so the guest can check the same stream.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// CRC-32 (IEEE 802.3, reflected, as zlib), incremental.
struct Crc32 {
    table: [u32; 256],
    state: u32,
}

impl Crc32 {
    fn new() -> Self {
        let mut table = [0u32; 256];
        for (i, t) in table.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *t = c;
        }
        Crc32 { table, state: !0 }
    }
    fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.state =
                self.table[((self.state ^ u32::from(b)) & 0xFF) as usize] ^ (self.state >> 8);
        }
    }
    fn finish(&mut self) -> u32 {
        let v = !self.state;
        self.state = !0;
        v
    }
}

struct Args {
    /// Probe mode: stop when this file appears (the harness's end mark, in case the guest's
    /// is lost).
    stop_file: Option<std::path::PathBuf>,
    mode: String,
    listen: SocketAddr,
    bytes: u64,
    chunk: u64,
    timeout: Duration,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mode = it.next().ok_or(
        "usage: vf-peer sink|source --listen ADDR:PORT --bytes N [--chunk C] [--timeout SECS]",
    )?;
    if mode != "sink" && mode != "source" && mode != "probe" {
        return Err(format!("unknown mode {mode:?}: sink, source or probe"));
    }
    let (mut listen, mut bytes, mut chunk, mut timeout) = (None, None, 1 << 20, 600);
    let mut stop_file = None;
    while let Some(a) = it.next() {
        let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
        match a.as_str() {
            "--listen" => listen = Some(v.parse().map_err(|e| format!("--listen {v}: {e}"))?),
            "--bytes" => bytes = Some(v.parse().map_err(|e| format!("--bytes {v}: {e}"))?),
            "--chunk" => {
                chunk = v
                    .parse()
                    .ok()
                    .filter(|&c| c > 0)
                    .ok_or_else(|| format!("--chunk {v}: not a positive number"))?
            }
            "--timeout" => timeout = v.parse().map_err(|e| format!("--timeout {v}: {e}"))?,
            "--stop-file" => stop_file = Some(v.into()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args {
        stop_file,
        mode,
        listen: listen.ok_or("--listen is required")?,
        bytes: bytes.ok_or("--bytes is required")?,
        chunk,
        timeout: Duration::from_secs(timeout),
    })
}

/// ICMP payload size of the guest's end mark (`ping -c 1 -s 999`).
const END_PAYLOAD: usize = 999;

/// The probe: arrival times of the guest's echo requests to `a.listen`'s address, until the
/// end mark or the timeout.
fn probe(a: &Args) -> Result<String, String> {
    // SAFETY: a raw ICMP socket; the fd is owned by `fd` below and closed on drop.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
    if raw < 0 {
        return Err(format!(
            "raw ICMP socket: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `raw` is a fresh, valid descriptor nobody else owns.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 200_000,
    };
    // SAFETY: SO_RCVTIMEO with a timeval of the right size on our socket.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            std::ptr::from_ref(&tv).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    let want = match a.listen.ip() {
        std::net::IpAddr::V4(v4) => v4.octets(),
        std::net::IpAddr::V6(_) => return Err("probe: IPv4 only".into()),
    };
    println!("{{\"listening\":\"{}\"}}", a.listen);
    let deadline = Instant::now() + a.timeout;
    let mut buf = [0u8; 2048];
    let (mut first, mut last): (Option<Instant>, Option<Instant>) = (None, None);
    let (mut received, mut max_gap, mut gap_at) = (0u64, Duration::ZERO, 0.0f64);
    let mut gaps_over_50ms = 0u64;
    while Instant::now() < deadline {
        if a.stop_file.as_ref().is_some_and(|f| f.exists()) {
            break;
        }
        // SAFETY: reads at most buf.len() bytes into buf.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        let Ok(n) = usize::try_from(n) else { continue };
        let now = Instant::now();
        // IPv4 header (IHL words), then ICMP: type 8 is an echo request; to our address only.
        if n < 20 || buf[0] >> 4 != 4 {
            continue;
        }
        let ihl = usize::from(buf[0] & 0xF) * 4;
        if n < ihl + 8 || buf[16..20] != want || buf[ihl] != 8 {
            continue;
        }
        if n - ihl - 8 == END_PAYLOAD {
            break;
        }
        received += 1;
        let start = *first.get_or_insert(now);
        if let Some(prev) = last {
            let gap = now - prev;
            if gap > Duration::from_millis(50) {
                gaps_over_50ms += 1;
            }
            if gap > max_gap {
                max_gap = gap;
                gap_at = (prev - start).as_secs_f64();
            }
        }
        last = Some(now);
    }
    let span = match (first, last) {
        (Some(f), Some(l)) => (l - f).as_secs_f64(),
        _ => 0.0,
    };
    Ok(format!(
        "{{\"mode\":\"probe\",\"received\":{received},\"max_gap_ms\":{:.1},\"gap_at_secs\":{gap_at:.3},\"gaps_over_50ms\":{gaps_over_50ms},\"span_secs\":{span:.3}}}",
        max_gap.as_secs_f64() * 1e3
    ))
}

fn run(a: &Args) -> Result<String, String> {
    if a.mode == "probe" {
        return probe(a);
    }
    let l = TcpListener::bind(a.listen).map_err(|e| format!("bind {}: {e}", a.listen))?;
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + a.timeout;
    // Ready: the harness waits for this line before starting the guest's side.
    println!("{{\"listening\":\"{}\"}}", a.listen);
    let mut s = loop {
        match l.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err(format!("no connection within {:?}", a.timeout));
                }
                if a.stop_file.as_ref().is_some_and(|f| f.exists()) {
                    return Err("no connection before the stop file".into());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    };
    s.set_nonblocking(false).map_err(|e| e.to_string())?;
    // Short reads with a deadline of their own: a stream that stalls for good (a guest whose
    // network never came back) ends on the stop file or after 30 s of silence.
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    let mut last_data = Instant::now();
    let mut whole = Crc32::new();
    let start;
    let mut total = 0u64;
    if a.mode == "sink" {
        let mut chunk_crc = Crc32::new();
        let mut in_chunk = 0u64;
        let mut distinct: Vec<u32> = Vec::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut first = None;
        let mut t0_unix_ms = 0u128;
        let mut series: Vec<u64> = Vec::new();
        let mut ended = "bytes";
        while total < a.bytes {
            let want = buf.len().min((a.bytes - total) as usize);
            let n = match s.read(&mut buf[..want]) {
                Ok(0) => {
                    ended = "eof";
                    break;
                }
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    let stop = a.stop_file.as_ref().is_some_and(|f| f.exists());
                    if stop || last_data.elapsed() > Duration::from_secs(30) {
                        if total == 0 {
                            return Err("no data before the stream stopped".into());
                        }
                        ended = "stopped";
                        break;
                    }
                    continue;
                }
                // A stream the sender ends by killing itself may end in a reset: what came
                // before it counts.
                Err(_) if total > 0 => {
                    ended = "error";
                    break;
                }
                Err(e) => return Err(format!("read after {total} bytes: {e}")),
            };
            last_data = Instant::now();
            let t0 = *first.get_or_insert_with(|| {
                t0_unix_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0);
                Instant::now()
            });
            let bucket = (t0.elapsed().as_millis() / 100) as usize;
            if series.len() <= bucket {
                series.resize(bucket + 1, 0);
            }
            series[bucket] += n as u64;
            whole.update(&buf[..n]);
            let mut data = &buf[..n];
            while !data.is_empty() {
                let take = data.len().min((a.chunk - in_chunk) as usize);
                chunk_crc.update(&data[..take]);
                in_chunk += take as u64;
                data = &data[take..];
                if in_chunk == a.chunk {
                    let c = chunk_crc.finish();
                    if !distinct.contains(&c) {
                        distinct.push(c);
                    }
                    in_chunk = 0;
                }
            }
            total += n as u64;
        }
        start = first.unwrap_or_else(Instant::now);
        let secs = start.elapsed().as_secs_f64();
        let list: Vec<String> = distinct.iter().map(|c| format!("\"{c:08x}\"")).collect();
        let series: Vec<String> = series.iter().map(u64::to_string).collect();
        Ok(format!(
            "{{\"mode\":\"sink\",\"bytes\":{total},\"secs\":{secs:.3},\"chunk_crcs\":[{}],\"crc\":\"{:08x}\",\"ended\":\"{ended}\",\"t0_unix_ms\":{t0_unix_ms},\"series_ms\":100,\"series\":[{}]}}",
            list.join(","),
            whole.finish(),
            series.join(",")
        ))
    } else {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut buf = vec![0u8; 64 * 1024];
        start = Instant::now();
        while total < a.bytes {
            for w in buf.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                w.copy_from_slice(&x.to_le_bytes());
            }
            let n = buf.len().min((a.bytes - total) as usize);
            s.write_all(&buf[..n])
                .map_err(|e| format!("write after {total} bytes: {e}"))?;
            whole.update(&buf[..n]);
            total += n as u64;
        }
        s.flush().map_err(|e| e.to_string())?;
        // The time covers delivery, not just buffering: wait until the peer has
        // acknowledged every byte (the socket's send queue is empty).
        let drain_deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut queued: libc::c_int = 0;
            // SAFETY: TIOCOUTQ on a TCP socket we own writes one int.
            let rc = unsafe { libc::ioctl(s.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
            if rc < 0 || queued == 0 || Instant::now() > drain_deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let secs = start.elapsed().as_secs_f64();
        let _ = s.shutdown(std::net::Shutdown::Both);
        Ok(format!(
            "{{\"mode\":\"source\",\"bytes\":{total},\"secs\":{secs:.3},\"crc\":\"{:08x}\"}}",
            whole.finish()
        ))
    }
}

fn main() -> ExitCode {
    let a = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("vf-peer: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&a) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{{\"error\":{:?}}}", e);
            eprintln!("vf-peer: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Crc32;

    #[test]
    fn crc32_matches_zlib() {
        let mut c = Crc32::new();
        c.update(b"abc");
        assert_eq!(c.finish(), 0x3524_41c2);
        c.update(b"123456789");
        assert_eq!(c.finish(), 0xCBF4_3926);
    }
}
