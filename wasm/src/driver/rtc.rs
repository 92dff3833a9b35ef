//! WebRTC signaling steps, non-trickle: every description is read only once ICE gathering is
//! complete, so it carries all candidates when it crosses the tracker.

use bitfleet_core::tracker::ws::SessionDescription;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::{RtcPeerConnection, RtcSdpType, RtcSessionDescriptionInit};

use crate::js::{self, get};

/// Gathering on a LAN takes milliseconds; a STUN server that does not answer must not hold an
/// offer back for longer than this.
const GATHER_TIMEOUT_MS: u32 = 5_000;

/// Creates our offer (the data channel must exist already) with all its candidates.
pub async fn offer(pc: &RtcPeerConnection) -> Result<SessionDescription, JsValue> {
    let offer = JsFuture::from(pc.create_offer()).await?;
    set_local(pc, RtcSdpType::Offer, &offer).await?;
    local_description(pc).await
}

/// Takes a peer's offer and creates our answer, with all its candidates.
pub async fn answer(
    pc: &RtcPeerConnection,
    offer: &SessionDescription,
) -> Result<SessionDescription, JsValue> {
    set_remote(pc, RtcSdpType::Offer, &offer.sdp).await?;
    let answer = JsFuture::from(pc.create_answer()).await?;
    set_local(pc, RtcSdpType::Answer, &answer).await?;
    local_description(pc).await
}

/// Completes our offer with the peer's answer; the data channel opens after.
pub async fn accept_answer(
    pc: &RtcPeerConnection,
    answer: &SessionDescription,
) -> Result<(), JsValue> {
    if answer.kind != "answer" {
        return Err(JsValue::from_str("expected an answer"));
    }
    set_remote(pc, RtcSdpType::Answer, &answer.sdp).await
}

async fn set_local(
    pc: &RtcPeerConnection,
    kind: RtcSdpType,
    created: &JsValue,
) -> Result<(), JsValue> {
    let sdp = get(created, "sdp").as_string().unwrap_or_default();
    let description = RtcSessionDescriptionInit::new(kind);
    description.set_sdp(&sdp);
    JsFuture::from(pc.set_local_description(&description)).await?;
    Ok(())
}

async fn set_remote(pc: &RtcPeerConnection, kind: RtcSdpType, sdp: &str) -> Result<(), JsValue> {
    let description = RtcSessionDescriptionInit::new(kind);
    description.set_sdp(sdp);
    JsFuture::from(pc.set_remote_description(&description)).await?;
    Ok(())
}

async fn local_description(pc: &RtcPeerConnection) -> Result<SessionDescription, JsValue> {
    JsFuture::from(js::ice_gathered(pc, GATHER_TIMEOUT_MS)).await?;
    let description = pc
        .local_description()
        .ok_or_else(|| JsValue::from_str("no local description"))?;
    Ok(SessionDescription {
        kind: get(&description, "type").as_string().unwrap_or_default(),
        sdp: description.sdp(),
    })
}

/// "ip:port" of the peer's end of the selected candidate pair, when the browser says.
pub async fn remote_address(pc: &RtcPeerConnection) -> Option<String> {
    JsFuture::from(js::remote_address(pc))
        .await
        .ok()?
        .as_string()
}
