package ximagepipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/ximagepipeline/ximagepipeline/internal/queue"
	"github.com/ximagepipeline/ximagepipeline/internal/testimages"
)

// Uploads that arrive together are committed together (group commit) and
// staged behind one shared flush: 48 at once on SQLite and local storage
// all get their own 202, each job is recorded once and linked to its own
// queue entry, and every one completes.
func TestConcurrentUploads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	jpg := testimages.JPEG(testimages.Quadrants(120, 80), 90)
	const n = 48
	type answer struct {
		code int
		id   string
		err  error
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body, ct := form(field("sourceType", "avatar"), field("sourceId", fmt.Sprintf("user-%d", i)), file("a.jpg", jpg))
			resp, err := e.srv.Client().Post(e.srv.URL+e.prefix()+"/upload", ct, bytes.NewReader(body))
			if err != nil {
				answers[i].err = err
				return
			}
			defer resp.Body.Close()
			var b struct{ JobID string }
			answers[i].code, answers[i].err = resp.StatusCode, json.NewDecoder(resp.Body).Decode(&b)
			answers[i].id = b.JobID
		})
	}
	wg.Wait()
	ids := map[string]bool{}
	for i, a := range answers {
		if a.err != nil || a.code != http.StatusAccepted || a.id == "" {
			t.Fatalf("upload %d: %d %q %v", i, a.code, a.id, a.err)
		}
		if ids[a.id] {
			t.Fatalf("job id %s given twice", a.id)
		}
		ids[a.id] = true
	}
	db := openDB(t, e.dir)
	defer db.Close()
	// Each job row points at the queue entry that carries its own id.
	entries, err := queue.Entries(context.Background(), db, queue.KindProcess)
	if err != nil {
		t.Fatal(err)
	}
	entryJob := map[int64]string{}
	for _, q := range entries {
		entryJob[q.ID] = q.JobID
	}
	rows, err := db.Query(`SELECT id, queue_job_id FROM ximage_jobs`)
	if err != nil {
		t.Fatal(err)
	}
	var linked int
	for rows.Next() {
		var id string
		var qid int64
		if err := rows.Scan(&id, &qid); err != nil {
			t.Fatal(err)
		}
		if entryJob[qid] == id {
			linked++
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if jobs, queued := e.countRows(); jobs != n || queued != n || linked != n {
		t.Fatalf("%d job rows, %d queued, %d linked to their own queue entry; want %d of each", jobs, queued, linked, n)
	}
	for id := range ids {
		e.waitMedia(id)
	}
	e.waitNothingStaged()
}
