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
// checks to Staged(jobID) and removes it, so the job reads only what was
// checked, whatever the client PUTs later with the same URL. It never has
// a job of its own: the staging sweep removes one left behind as an orphan
// (StagedJobID gives "{jobId}.put", which no job has).
func (l Layout) DirectUpload(jobID string) string { return path.Join(l.Staging, jobID+".put") }

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

// StagedJobID is the job id of a staged upload's key (Staged's inverse).
func (l Layout) StagedJobID(key string) string {
	return strings.TrimPrefix(key, l.Staging+"/")
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
