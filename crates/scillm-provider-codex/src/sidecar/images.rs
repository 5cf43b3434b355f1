//! `data:` image parts written to checked temp files for `--image`. Remote URLs are
//! refused: the sidecar never fetches on a client's behalf.

use std::path::{Path, PathBuf};

use base64::Engine;
use scillm_core::wire::{Content, ContentPart, Message};

use scillm_serve::ApiError;

/// Image types accepted, with the file extension they get.
const TYPES: &[(&str, &str)] = &[
    ("image/png", "png"),
    ("image/jpeg", "jpg"),
    ("image/jpg", "jpg"),
    ("image/gif", "gif"),
    ("image/webp", "webp"),
];

/// Write every image part of `messages` into `dir`; returns the file paths in order.
pub fn write_images(
    messages: &[Message],
    dir: &Path,
    max_bytes: usize,
) -> Result<Vec<PathBuf>, ApiError> {
    let mut paths = Vec::new();
    let parts = messages.iter().filter_map(|m| match &m.content {
        Some(Content::Parts(parts)) => Some(parts),
        _ => None,
    });
    for part in parts.flatten() {
        let ContentPart::ImageUrl { image_url, .. } = part else {
            continue;
        };
        let (ext, bytes) = decode(&image_url.url, max_bytes)?;
        let path = dir.join(format!("image-{}.{ext}", paths.len()));
        std::fs::write(&path, bytes).map_err(|e| {
            ApiError::internal(
                "image_write_failed",
                format!("cannot write an image temp file: {e}"),
            )
        })?;
        paths.push(path);
    }
    Ok(paths)
}

/// Decode and check one `data:` URL: its type, its size and that the bytes are that type.
pub fn decode(url: &str, max_bytes: usize) -> Result<(&'static str, Vec<u8>), ApiError> {
    let bad = |code: &str, msg: String| ApiError::bad_request(code, msg);
    let Some(rest) = url.strip_prefix("data:") else {
        let shown: String = url.chars().take(60).collect();
        return Err(bad(
            "remote_image_refused",
            format!("image URL `{shown}` refused: the sidecar does not fetch remote images; send the image inline as a data:image/png;base64,… URL"),
        ));
    };
    let Some((meta, data)) = rest.split_once(',') else {
        return Err(bad(
            "invalid_image",
            "malformed data: URL (no comma)".into(),
        ));
    };
    let Some(mime) = meta.strip_suffix(";base64") else {
        return Err(bad(
            "invalid_image",
            "data: image URLs must be base64-encoded (data:image/png;base64,…)".into(),
        ));
    };
    let mime = mime.to_ascii_lowercase();
    let Some(&(_, ext)) = TYPES.iter().find(|(t, _)| *t == mime) else {
        return Err(bad(
            "unsupported_image_type",
            format!("image type `{mime}` is not supported: use png, jpeg, gif or webp"),
        ));
    };
    // base64 grows data by 4/3: refuse before decoding something far too large.
    if data.len() / 4 * 3 > max_bytes + 3 {
        return Err(too_large(max_bytes));
    }
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| {
            bad(
                "invalid_image",
                format!("the image is not valid base64: {e}"),
            )
        })?;
    if bytes.len() > max_bytes {
        return Err(too_large(max_bytes));
    }
    if !magic_matches(ext, &bytes) {
        return Err(bad(
            "invalid_image",
            format!("the image data is not a {mime} file"),
        ));
    }
    Ok((ext, bytes))
}

fn too_large(max: usize) -> ApiError {
    ApiError::bad_request(
        "image_too_large",
        format!("an image is larger than {max} bytes"),
    )
}

fn magic_matches(ext: &str, b: &[u8]) -> bool {
    match ext {
        "png" => b.starts_with(b"\x89PNG\r\n\x1a\n"),
        "jpg" => b.starts_with(&[0xFF, 0xD8, 0xFF]),
        "gif" => b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a"),
        "webp" => b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1×1 PNG.
    const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

    #[test]
    fn checks_type_size_and_bytes() {
        let ok = format!("data:image/png;base64,{PNG}");
        assert_eq!(decode(&ok, 1 << 20).unwrap().0, "png");
        assert_eq!(
            decode(&ok, 10).unwrap_err().body.error.code,
            Some("image_too_large".into())
        );
        let remote = decode("https://example.com/cat.png", 1 << 20).unwrap_err();
        assert_eq!(remote.status, 400);
        assert!(remote.message().contains("does not fetch remote images"));
        assert!(decode("data:image/svg+xml;base64,PHN2Zz4=", 1 << 20).is_err());
        assert!(decode(&format!("data:image/jpeg;base64,{PNG}"), 1 << 20).is_err());
        assert!(decode("data:image/png;base64,!!!", 1 << 20).is_err());
    }
}
