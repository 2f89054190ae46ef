package storage

import (
	"path"
	"strings"
)

// Layout is the one place that knows where each object lives (contract
// section 5). Its fields are the top-level folders.
type Layout struct {
	Staging   string // staged uploads: {Staging}/{jobId}
	Media     string // variants: {Media}/{sourceType}/{sourceId}/{mediaId}/{variant}.{format}
	Originals string // originals: {Originals}/{sourceType}/{sourceId}/{mediaId}/original.{ext}
}

// Staged is the key of an upload waiting for its job.
func (l Layout) Staged(jobID string) string { return path.Join(l.Staging, jobID) }

// DirectUpload is the key a direct upload's client PUTs its file to, beside
// the staged uploads. Its complete step streams it through the upload's
// checks to a StagedCopy and removes it, so the job reads only what was
// checked, whatever the client PUTs later with the same URL. The staging
// sweep removes one left behind with the job's other staged files, or as
// an orphan when the job never came to be.
func (l Layout) DirectUpload(jobID string) string { return path.Join(l.Staging, jobID+".put") }

// StagedCopy is the key a direct upload's complete step stages the checked
// file under: one per attempt (nonce), so that two completes of one job on
// two API servers never write the same key; the job records the key of
// the one that committed, and the other removes its own.
func (l Layout) StagedCopy(jobID, nonce string) string {
	return path.Join(l.Staging, jobID+"."+nonce)
}

// Variant is the key of one variant of a media.
func (l Layout) Variant(sourceType, sourceID, mediaID, name, format string) string {
	return path.Join(l.Media, sourceType, sourceID, mediaID, name+"."+format)
}

// Original is the key of a media's metadata-free original.
func (l Layout) Original(sourceType, sourceID, mediaID, ext string) string {
	return path.Join(l.Originals, sourceType, sourceID, mediaID, "original."+ext)
}

// StagingFolder is the folder of staged uploads, ending in "/" (a prefix
// for List).
func (l Layout) StagingFolder() string { return l.Staging + "/" }

// StagedJobID is the job id of a staged key (Staged's, StagedCopy's and
// DirectUpload's inverse): what follows the staging folder, up to a dot.
func (l Layout) StagedJobID(key string) string {
	id, _, _ := strings.Cut(strings.TrimPrefix(key, l.Staging+"/"), ".")
	return id
}

// MediaFolders are the folders holding every object of one media, its
// variants and its original, each ending in "/" (prefixes for List).
func (l Layout) MediaFolders(sourceType, sourceID, mediaID string) []string {
	return []string{
		path.Join(l.Media, sourceType, sourceID, mediaID) + "/",
		path.Join(l.Originals, sourceType, sourceID, mediaID) + "/",
	}
}

// Public are the folders whose objects may be served to anyone: variants
// and originals, never staged uploads. Each ends in "/".
func (l Layout) Public() []string { return []string{l.Media + "/", l.Originals + "/"} }
