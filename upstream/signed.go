package upstream

import (
	"bytes"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxSignedValidity bounds the validity a signed URL may claim: SigV4 and
// GCS V4 allow at most 7 days; a longer claim is not a signature we know.
const maxSignedValidity = 7 * 24 * time.Hour

// signatureExpiry returns when a signed URL stops working, read from its
// query before anything is fetched, and false when u is not a signed URL
// of a kind this package knows:
//
//   - AWS Signature Version 4 (S3 presigned URLs): X-Amz-Date
//     ("20060102T150405Z") plus X-Amz-Expires seconds,
//     https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html ;
//   - Google Cloud Storage V4 signing: X-Goog-Date plus X-Goog-Expires,
//     https://cloud.google.com/storage/docs/authentication/signatures ;
//   - the older query-string signatures of S3 (Signature Version 2), Cloud
//     Storage (V2) and CloudFront: Expires, a UNIX time in seconds, next to
//     a Signature parameter.
//
// Parameter names are matched case-insensitively. Values that do not parse
// are ignored: the host is then the judge.
func signatureExpiry(u *url.URL) (time.Time, bool) {
	if u.RawQuery == "" {
		return time.Time{}, false
	}
	q := make(map[string]string)
	for k, vs := range u.Query() {
		if len(vs) > 0 {
			q[strings.ToLower(k)] = vs[0]
		}
	}
	for _, p := range [...]string{"x-amz", "x-goog"} {
		date, okD := q[p+"-date"]
		exp, okE := q[p+"-expires"]
		if !okD || !okE {
			continue
		}
		t, err := time.Parse("20060102T150405Z", date)
		secs, err2 := strconv.ParseInt(exp, 10, 64)
		if err != nil || err2 != nil || secs < 0 || time.Duration(secs)*time.Second > maxSignedValidity {
			continue
		}
		return t.Add(time.Duration(secs) * time.Second), true
	}
	if exp, ok := q["expires"]; ok {
		if _, signed := q["signature"]; signed {
			if secs, err := strconv.ParseInt(exp, 10, 64); err == nil && secs > 0 && secs < 1<<40 {
				return time.Unix(secs, 0), true
			}
		}
	}
	return time.Time{}, false
}

// expiredBody reports an object store's answer to an expired signed URL:
// S3's 403 <Code>AccessDenied</Code> with "Request has expired", or the
// <Code>ExpiredToken</Code> of S3 (an expired session token) and Cloud
// Storage (an expired signature).
// https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html ,
// https://cloud.google.com/storage/docs/xml-api/reference-status
func expiredBody(body []byte) bool {
	code := xmlElement(body, "Code")
	switch {
	case bytes.EqualFold(code, []byte("ExpiredToken")):
		return true
	case bytes.EqualFold(code, []byte("AccessDenied")):
		return bytes.Contains(bytes.ToLower(xmlElement(body, "Message")), []byte("expired"))
	}
	return false
}

// xmlElement returns the text of the first <name>...</name> in body; an
// object store's error document is flat enough for this.
func xmlElement(body []byte, name string) []byte {
	open, end := []byte("<"+name+">"), []byte("</"+name+">")
	i := bytes.Index(body, open)
	if i < 0 {
		return nil
	}
	rest := body[i+len(open):]
	j := bytes.Index(rest, end)
	if j < 0 {
		return nil
	}
	return bytes.TrimSpace(rest[:j])
}
