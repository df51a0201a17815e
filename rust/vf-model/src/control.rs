//! The control socket protocol: one JSON object per line in, one per line out.
//!
//! Requests name a command in `"cmd"`; replies carry `"ok": true` and the command's data,
//! or `"ok": false` and an `"error"` saying why. Commands:
//!
//! | cmd | arguments | effect |
//! |---|---|---|
//! | `hello` | | device id and swap generation |
//! | `link` | `up`: bool | PF physical link; VFLINKS follows, the PF pings the VF |
//! | `vf_link` | `enable`: bool | administrative VF link state (PF withdraws CTS and pings) |
//! | `trust` | `on`: bool | VF trust (PF withdraws CTS and pings) |
//! | `query_rss` | `on`: bool | whether the PF answers GET_RETA and GET_RSS_KEY (`ip link set PF vf N query_rss on`) |
//! | `stats` | | guest-visible counters, model statistics, PF state |
//! | `fault` | `kind`, `count` or `ms` | the PF: `lose_msgs`, `ping_race`, `mbx_wrong_id`, `mbx_garbage` (count of messages), `ping_flood` (count of pings, sent at once), `hold_rsti` (ms, on the next VFCTRL.RST); the wire: `drop_rx`, `drop_tx`; the device: `rx_bad_len`, `rx_no_eop`, `rx_dd_unposted`, `rx_bad_status`, `dma_wild` (count of frames), `tx_head_jump`, `tx_head_back` (count of Tx passes), `msix_storm` (ms of every vector firing on every pass of the worker), `gone` (ms of all-ones reads) |
//! | `pf_ping` | | PF control message to the VF |
//! | `pf_reset` | `ms` | PF reset: RSTI for `ms`, then RSTD; CTS withdrawn |
//! | `swap` | optional `mac`, `trusted`, `device_id` (hex, another mailbox VF id) | replace the VF with a fresh device (of another model with `device_id`) |
//! | `corrupt_record` | | flip a byte in the middle of the saved record the guest published; again flips it back |
//! | `peek` | `offset` | side-effect-free read of a BAR0 register |

use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::device::Device;
use crate::mbx::MAX_RESET_HOLD;

/// Formats a MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn fmt_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in out.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn err(msg: impl Into<String>) -> Value {
    json!({ "ok": false, "error": msg.into() })
}

fn ok(mut data: Map<String, Value>) -> Value {
    data.insert("ok".into(), Value::Bool(true));
    Value::Object(data)
}

fn arg_bool(req: &Value, key: &str) -> Result<bool, Value> {
    req.get(key)
        .and_then(Value::as_bool)
        .ok_or_else(|| err(format!("missing boolean \"{key}\"")))
}

fn arg_u64(req: &Value, key: &str) -> Result<u64, Value> {
    req.get(key)
        .and_then(Value::as_u64)
        .ok_or_else(|| err(format!("missing unsigned \"{key}\"")))
}

/// A reset hold in milliseconds, refused beyond `MAX_RESET_HOLD`.
fn arg_hold(req: &Value) -> Result<Duration, Value> {
    let ms = arg_u64(req, "ms")?;
    let hold = Duration::from_millis(ms);
    if hold > MAX_RESET_HOLD {
        return Err(err(format!(
            "\"ms\": {ms} is longer than {} s",
            MAX_RESET_HOLD.as_secs()
        )));
    }
    Ok(hold)
}

/// Handles one request line and returns the reply line (without newline).
pub fn handle_line(dev: &mut Device, line: &str, now: Instant) -> String {
    let reply = match serde_json::from_str::<Value>(line) {
        Ok(req) => handle(dev, &req, now).unwrap_or_else(|e| e),
        Err(e) => err(format!("not JSON: {e}")),
    };
    reply.to_string()
}

fn handle(dev: &mut Device, req: &Value, now: Instant) -> Result<Value, Value> {
    let Some(cmd) = req.get("cmd").and_then(Value::as_str) else {
        return Err(err("missing string \"cmd\""));
    };
    let mut out = Map::new();
    match cmd {
        "hello" => {
            out.insert(
                "device_id".into(),
                json!(format!("{:04x}", dev.device_id())),
            );
            out.insert("generation".into(), json!(dev.generation()));
        }
        "link" => {
            let up = arg_bool(req, "up")?;
            dev.set_link(up, now);
        }
        "vf_link" => {
            let enable = arg_bool(req, "enable")?;
            dev.admin_change(now, |a| a.link_enable = enable);
        }
        "trust" => {
            let on = arg_bool(req, "on")?;
            dev.admin_change(now, |a| a.trusted = on);
        }
        "query_rss" => {
            // `ip link set PF vf N query_rss on|off`: the PF only records it, no message.
            dev.set_rss_query(arg_bool(req, "on")?);
        }
        "stats" => {
            out.insert("stats".into(), stats(dev));
        }
        "fault" => {
            let kind = req
                .get("kind")
                .and_then(Value::as_str)
                .ok_or_else(|| err("missing string \"kind\""))?;
            let count = || -> Result<u32, Value> {
                u32::try_from(arg_u64(req, "count")?).map_err(|_| err("count too large"))
            };
            match kind {
                "hold_rsti" => dev.faults_mut().hold_rsti = Some(arg_hold(req)?),
                "gone" => dev.faults_mut().gone_until = Some(now + arg_hold(req)?),
                "msix_storm" => dev.faults_mut().storm_until = Some(now + arg_hold(req)?),
                "ping_flood" => {
                    let sent = dev.ping_flood(count()?.min(100_000), now);
                    out.insert("sent".into(), json!(sent));
                }
                _ => {
                    let n = count()?;
                    let f = dev.faults_mut();
                    let slot = match kind {
                        "lose_msgs" => &mut f.lose_msgs,
                        "ping_race" => &mut f.ping_race,
                        "drop_rx" => &mut f.drop_rx,
                        "drop_tx" => &mut f.drop_tx,
                        "rx_bad_len" => &mut f.rx_bad_len,
                        "rx_no_eop" => &mut f.rx_no_eop,
                        "rx_dd_unposted" => &mut f.rx_dd_unposted,
                        "rx_bad_status" => &mut f.rx_bad_status,
                        "dma_wild" => &mut f.dma_wild,
                        "tx_head_jump" => &mut f.tx_head_jump,
                        "tx_head_back" => &mut f.tx_head_back,
                        "mbx_wrong_id" => &mut f.mbx_wrong_id,
                        "mbx_garbage" => &mut f.mbx_garbage,
                        other => return Err(err(format!("unknown fault kind \"{other}\""))),
                    };
                    *slot = n;
                }
            }
        }
        "pf_ping" => {
            out.insert("delivered".into(), json!(dev.pf_ping(now)));
        }
        "pf_reset" => {
            let hold = arg_hold(req)?;
            dev.pf_reset(now, hold);
        }
        "swap" => {
            let mut admin = dev.admin().clone();
            if let Some(m) = req.get("mac") {
                let s = m.as_str().ok_or_else(|| err("\"mac\" must be a string"))?;
                admin.mac = Some(parse_mac(s).ok_or_else(|| err(format!("bad MAC \"{s}\"")))?);
            }
            if let Some(t) = req.get("trusted") {
                admin.trusted = t
                    .as_bool()
                    .ok_or_else(|| err("\"trusted\" must be a boolean"))?;
            }
            dev.swap(now, Some(admin));
            out.insert("generation".into(), json!(dev.generation()));
        }
        "peek" => {
            let off = arg_u64(req, "offset")?;
            if off % 4 != 0 || off >= crate::regs::BAR0_SIZE {
                return Err(err(format!("offset {off:#x} is not a BAR0 dword")));
            }
            out.insert("value".into(), json!(dev.peek32(off, now)));
        }
        other => return Err(err(format!("unknown command \"{other}\""))),
    }
    Ok(ok(out))
}

fn stats(dev: &Device) -> Value {
    let c = dev.counters();
    let s = dev.stats();
    let pf = dev.pf_state();
    let (tx_descs, rx_descs, eitr0) = dev.queue0();
    json!({
        "generation": dev.generation(),
        "queue0": { "tx_descs": tx_descs, "rx_descs": rx_descs, "eitr": eitr0 },
        "link_up": dev.link_up(),
        "counters": { "gprc": c.gprc, "gptc": c.gptc, "gorc": c.gorc, "gotc": c.gotc, "mprc": c.mprc },
        "model": {
            "tx_frames": s.tx_frames, "rx_frames": s.rx_frames, "rx_filtered": s.rx_filtered,
            "rx_no_desc": s.rx_no_desc, "rx_queue_off": s.rx_queue_off, "tx_blocked": s.tx_blocked,
            "dma_errors": s.dma_errors, "bad_descriptors": s.bad_descriptors,
            "bad_accesses": s.bad_accesses, "injected_drops": s.injected_drops, "faults_fired": s.faults_fired,
            "mbx_msgs": s.mbx_msgs, "irqs": dev.irqs_fired(), "fired": dev.faults_by_kind(),
            "tx_tso": s.tx_tso, "tx_csum": s.tx_csum, "tx_vlan": s.tx_vlan,
            "mmio_reads": s.mmio_reads, "mmio_writes": s.mmio_writes,
        },
        "pf": {
            "mac": fmt_mac(&pf.mac), "mac_filter": pf.mac_filter, "clear_to_send": pf.clear_to_send,
            "api": pf.api.name(), "xcast": pf.xcast as u32, "vlans": pf.vlans.iter().collect::<Vec<_>>(),
            "mc_hashes": pf.mc_hashes.len(), "macvlans": pf.macvlans.len(), "max_frame": pf.max_frame,
            "vfre": pf.vfre, "nacks": pf.nacks, "handled": pf.handled,
            "trusted": dev.admin().trusted, "link_enable": dev.admin().link_enable,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceConfig;
    use crate::dma::VecMemory;
    use crate::msix::RecordingSink;

    fn dev() -> Device {
        let t = Instant::now();
        Device::new(
            DeviceConfig::default(),
            Box::new(VecMemory::new(0, 4096)),
            Box::new(RecordingSink::default()),
            t,
        )
    }

    fn call(d: &mut Device, line: &str) -> Value {
        serde_json::from_str(&handle_line(d, line, Instant::now())).unwrap()
    }

    #[test]
    fn unknown_and_malformed_requests_get_errors() {
        let mut d = dev();
        let r = call(&mut d, r#"{"cmd":"frobnicate"}"#);
        assert_eq!(r["ok"], false);
        assert!(r["error"].as_str().unwrap().contains("frobnicate"));
        assert_eq!(call(&mut d, "not json")["ok"], false);
        assert_eq!(call(&mut d, r#"{"nocmd":1}"#)["ok"], false);
        assert_eq!(call(&mut d, r#"{"cmd":"link"}"#)["ok"], false);
        assert_eq!(call(&mut d, r#"{"cmd":"link","up":"yes"}"#)["ok"], false);
        assert_eq!(
            call(&mut d, r#"{"cmd":"fault","kind":"meteor","count":1}"#)["ok"],
            false
        );
        assert_eq!(call(&mut d, r#"{"cmd":"swap","mac":"zz"}"#)["ok"], false);
        assert_eq!(call(&mut d, r#"{"cmd":"peek","offset":3}"#)["ok"], false);
        assert_eq!(call(&mut d, r#"[1,2]"#)["ok"], false);
        // Holds that would overflow the clock are refused, not a panic.
        let huge = u64::MAX;
        for req in [
            format!(r#"{{"cmd":"pf_reset","ms":{huge}}}"#),
            format!(r#"{{"cmd":"fault","kind":"hold_rsti","ms":{huge}}}"#),
        ] {
            assert_eq!(call(&mut d, &req)["ok"], false, "{req}");
        }
        assert_eq!(call(&mut d, r#"{"cmd":"pf_reset","ms":5}"#)["ok"], true);
    }

    #[test]
    fn link_and_stats() {
        let mut d = dev();
        assert_eq!(call(&mut d, r#"{"cmd":"link","up":false}"#)["ok"], true);
        assert!(!d.link_up());
        let s = call(&mut d, r#"{"cmd":"stats"}"#);
        assert_eq!(s["stats"]["link_up"], false);
        assert_eq!(s["stats"]["pf"]["api"], "1.0");
        let peek = call(
            &mut d,
            &format!(r#"{{"cmd":"peek","offset":{}}}"#, crate::regs::VFLINKS),
        );
        assert_eq!(peek["value"], 0);
        let sw = call(&mut d, r#"{"cmd":"swap","mac":"02:00:00:00:00:07"}"#);
        assert_eq!(sw["generation"], 1);
        assert_eq!(d.admin().mac, Some([2, 0, 0, 0, 0, 7]));
    }

    #[test]
    fn mac_parsing() {
        assert_eq!(parse_mac("02:aa:00:00:00:01"), Some([2, 0xaa, 0, 0, 0, 1]));
        assert_eq!(parse_mac("02:aa:00:00:00"), None);
        assert_eq!(parse_mac("02:aa:00:00:00:01:02"), None);
        assert_eq!(parse_mac("2:aa:00:00:00:01"), None);
        assert_eq!(fmt_mac(&[2, 0xaa, 0, 0, 0, 1]), "02:aa:00:00:00:01");
    }
}
