package web_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/buckket/go-blurhash"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/ximagepipeline/ximagepipeline"
	"github.com/ximagepipeline/ximagepipeline/internal/access"
	"github.com/ximagepipeline/ximagepipeline/web"
)

// chromiumPath finds Debian's chromium; without it the test fails (a browser
// test that skips would pass on a machine that cannot run it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: run scripts/install-deps.sh test (or `make test`), which installs Debian's chromium package")
	return ""
}

// testJPEG writes a 900x600 picture with a bright disc off-centre.
func testJPEG(t *testing.T, dir string) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 900, 600))
	for y := range 600 {
		for x := range 900 {
			c := color.RGBA{uint8(40 + x*120/900), uint8(70 + y*100/600), 150, 255}
			if dx, dy := x-620, y-220; dx*dx+dy*dy < 90*90 {
				c = color.RGBA{250, 200, 60, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "sunset.jpg")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// server is a real pipeline with the API and the dashboard on one origin,
// as `ximagepipeline serve` mounts them; wrap, when set, guards it.
func server(t *testing.T, ctx context.Context, wrap func(http.Handler) http.Handler) (*ximagepipeline.Pipeline, *httptest.Server) {
	t.Helper()
	p, err := ximagepipeline.New(ctx, ximagepipeline.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", p.Handler())
	mux.Handle("/", web.Handler(prefix))
	var h http.Handler = mux
	if wrap != nil {
		h = wrap(mux)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return p, srv
}

const prefix = ximagepipeline.DefaultPrefix

// browser is a headless Chromium tab, with what its page logged and the
// confirm() dialogs it answered yes to.
type browser struct {
	t         *testing.T
	ctx       context.Context
	mu        sync.Mutex
	console   []chromedp.ConsoleMessage
	confirmed chan string
	// expected says which console errors a test provokes on purpose.
	expected func(chromedp.ConsoleMessage) bool
}

func newBrowser(t *testing.T, ctx context.Context) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.NoSandbox, // root in CI containers
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(func() { bcancel(); acancel() })
	b := &browser{t: t, ctx: bctx, confirmed: make(chan string, 1)}

	messages := chromedp.Console(bctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.console = append(b.console, m)
			b.mu.Unlock()
		}
	}()
	// The delete asks confirm(): say yes, and remember it was asked.
	dialogs := chromedp.Events(bctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			select {
			case b.confirmed <- ev.Message:
			default:
			}
			chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	// An exception or an error on the page's console fails the test.
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.console {
			if (c.IsException() || c.Type == "error") && (b.expected == nil || !b.expected(c)) {
				t.Errorf("page console: %s", c)
			}
		}
	})
	return b
}

func (b *browser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.t.Fatalf("%s: %v\nconsole: %v", step, err, b.console)
	}
}

func (b *browser) eval(expr string) map[string]any {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[map[string]any](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// shot saves a screenshot (the viewport, or the whole page) to a temporary
// directory, and to $DASHBOARD_SCREENSHOTS when set, to look at.
func (b *browser) shot(name string, full bool) {
	b.t.Helper()
	capture := chromedp.CaptureScreenshot()
	if full {
		capture = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(b.ctx, capture)
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(b.t.TempDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
	if dir := os.Getenv("DASHBOARD_SCREENSHOTS"); dir != "" {
		os.WriteFile(filepath.Join(dir, name), png, 0o644)
	}
}

// TestDashboardInChromium drives the dashboard in a real headless Chromium
// against a real pipeline: upload through the page's file input, watch the
// job complete, see the variant load in the gallery through srcset, open
// the detail and delete.
func TestDashboardInChromium(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := newBrowser(t, ctx)
	p, srv := server(t, ctx, nil)
	do, eval, shot := b.do, b.eval, b.shot

	// The page, with the configuration loaded from the API.
	do("open the dashboard",
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS("#dropzone")),
		chromedp.WaitReady(chromedp.CSS(`#types-table tbody tr`)),
	)
	cfg := eval(`(() => ({
		prefix: document.documentElement.dataset.apiPrefix,
		variants: [...document.querySelectorAll('#variants-table tbody th')].map((e) => e.textContent),
		types: [...document.querySelectorAll('#types-table tbody th')].map((e) => e.textContent),
		upType: document.querySelector('#up-type').value,
	}))()`)
	if cfg["prefix"] != prefix || cfg["upType"] != "gallery" ||
		fmt.Sprint(cfg["variants"]) != "[xs sm md lg xl 2xl]" ||
		fmt.Sprint(cfg["types"]) != "[avatar content gallery hero member_photo]" {
		t.Fatalf("config panel: %v", cfg)
	}

	// Upload through the file input behind the drop zone.
	file := testJPEG(t, t.TempDir())
	do("upload",
		chromedp.SetUploadFiles(chromedp.CSS("#file-input"), []string{file}, chromedp.NodeReady),
		chromedp.WaitVisible(chromedp.CSS(`#jobs li.job[data-status="COMPLETE"]`)),
	)
	job := eval(`(() => {
		const li = document.querySelector('#jobs li.job');
		return { id: li.dataset.jobId, text: li.textContent, progress: li.querySelector('progress').value };
	})()`)
	if !strings.HasPrefix(fmt.Sprint(job["id"]), "job_") || !strings.Contains(fmt.Sprint(job["text"]), "sunset.jpg") ||
		!strings.Contains(fmt.Sprint(job["text"]), "900 × 600") || job["progress"] != float64(100) {
		t.Fatalf("job row: %v", job)
	}

	// The gallery shows it: the BlurHash first, then a variant from srcset.
	list, err := p.ListMedia(ctx, "gallery", "demo")
	if err != nil || len(list) != 1 {
		t.Fatalf("ListMedia: %v %v", list, err)
	}
	m := list[0]
	do("gallery image loads",
		chromedp.WaitVisible(chromedp.CSS(`#gallery-grid li.tile .frame.loaded img`)),
	)
	tile := eval(`(() => {
		const li = document.querySelector('#gallery-grid li.tile');
		const img = li.querySelector('img');
		const c = li.querySelector('canvas.blur');
		const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		let opaque = 0;
		for (let i = 3; i < px.length; i += 4) if (px[i] === 255) opaque++;
		return { id: li.dataset.mediaId, currentSrc: img.currentSrc, naturalWidth: img.naturalWidth,
			srcset: img.getAttribute('srcset'), sizes: img.getAttribute('sizes'),
			canvas: c.width + 'x' + c.height, opaque, pixels: c.width * c.height };
	})()`)
	if tile["id"] != m.ID {
		t.Fatalf("tile %v, want media %s", tile["id"], m.ID)
	}
	current := strings.TrimPrefix(fmt.Sprint(tile["currentSrc"]), srv.URL)
	var isVariant bool
	for _, v := range m.Variants {
		isVariant = isVariant || v.URL == current
	}
	if !isVariant || tile["naturalWidth"].(float64) <= 0 {
		t.Fatalf("gallery image: currentSrc %q is not a loaded variant of %v: %v", current, m.Variants, tile)
	}
	for _, name := range []string{"md", "lg", "xl"} {
		v := m.Variants[name]
		if want := fmt.Sprintf("%s %dw", v.URL, v.Width); !strings.Contains(fmt.Sprint(tile["srcset"]), want) {
			t.Errorf("srcset %q lacks %q", tile["srcset"], want)
		}
	}
	if tile["opaque"] != tile["pixels"] {
		t.Errorf("BlurHash placeholder not painted: %v", tile)
	}
	t.Logf("gallery: %s (%v px wide) from srcset %q sizes %q", current, tile["naturalWidth"], tile["srcset"], tile["sizes"])

	// The page's own BlurHash decoder agrees with the Go one.
	got := eval(fmt.Sprintf(`import('/assets/app.js').then((m) => ({ px: Array.from(m.decodeBlurHash(%q, 8, 6)) }))`, m.BlurHash))
	want, err := blurhash.Decode(m.BlurHash, 8, 6, 1)
	if err != nil {
		t.Fatal(err)
	}
	px := got["px"].([]any)
	for y := range 6 {
		for x := range 8 {
			r, g, b, _ := want.At(x, y).RGBA()
			for i, w := range []uint32{r >> 8, g >> 8, b >> 8} {
				if d := px[4*(y*8+x)+i].(float64) - float64(w); d > 2 || d < -2 {
					t.Fatalf("decodeBlurHash(%q) at %d,%d channel %d = %v, go-blurhash %d", m.BlurHash, x, y, i, px[4*(y*8+x)+i], w)
				}
			}
		}
	}
	// The page shows the server's srcsets as they are, in a frame of the
	// pictures' shape: an avatar's srcset holds square crops.
	pick := eval(`import('/assets/app.js').then(({ srcsetOf }) => {
		const v = (url, width, height, format = 'webp') => ({ url, width, height, format, bytes: 1 });
		const avatar = srcsetOf({ width: 900, height: 600, variants: { xs: v('/xs', 64, 64), sm: v('/sm', 150, 150) },
			srcset: { webp: '/xs 64w, /sm 150w' } });
		const photo = srcsetOf({ width: 300, height: 200, variants: { lg: v('/lg', 300, 200), 'lg.avif': v('/a', 300, 200, 'avif') },
			srcset: { webp: '/lg 300w', avif: '/a 300w' } });
		const none = srcsetOf({ width: 10, height: 10, variants: {}, srcset: {} });
		return { avatar: [avatar.webp, avatar.avif, avatar.first, avatar.cropped, avatar.width, avatar.height].join('|'),
			photo: [photo.webp, photo.avif, photo.first, photo.cropped, photo.width, photo.height].join('|'),
			none: [none.webp, none.first, none.cropped].join('|') };
	})`)
	if pick["avatar"] != "/xs 64w, /sm 150w||/xs|true|150|150" || pick["photo"] != "/lg 300w|/a 300w|/lg|false|300|200" || pick["none"] != "||false" {
		t.Errorf("srcsetOf: %v", pick)
	}
	if tile["srcset"] != m.Srcset["webp"] {
		t.Errorf("gallery srcset %q, the server's is %q", tile["srcset"], m.Srcset["webp"])
	}
	do("fade-in ends", chromedp.Sleep(500*time.Millisecond))
	shot("dashboard.png", true)
	// On a phone: one column, the gallery under the upload.
	do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	shot("phone.png", true)
	do("desktop viewport", chromedp.EmulateViewport(1280, 900))

	// The detail: dimensions, aspect ratio, focal point, every variant.
	do("open the detail",
		chromedp.Click(chromedp.CSS(`#gallery-grid li.tile button`)),
		chromedp.WaitVisible(chromedp.CSS(`#detail[open] .detail-fig .frame.loaded img`)),
	)
	detail := eval(`(() => ({
		title: document.querySelector('#detail-title').textContent,
		text: document.querySelector('#detail-body').innerText,
		variants: document.querySelectorAll('#detail-body table.variants tbody tr').length,
		focal: !!document.querySelector('#detail-body .focal'),
	}))()`)
	text := fmt.Sprint(detail["text"])
	for _, s := range []string{"900 × 600 px", m.AspectRatio, fmt.Sprintf("x %.2f, y %.2f", m.FocalPoint.X, m.FocalPoint.Y), m.BlurHash, "gallery / demo"} {
		if !strings.Contains(text, s) {
			t.Errorf("detail lacks %q:\n%s", s, text)
		}
	}
	if detail["title"] != m.ID || detail["variants"] != float64(len(m.Variants)) || detail["focal"] != true {
		t.Errorf("detail: %v", detail)
	}
	shot("detail.png", false)

	// Delete, confirmed: gone from the page and from the pipeline.
	do("delete",
		chromedp.Click(chromedp.CSS(`#detail-delete`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#gallery-grid li.tile`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#detail`)),
	)
	select {
	case msg := <-b.confirmed:
		if !strings.Contains(msg, m.ID) {
			t.Errorf("confirm said %q", msg)
		}
	default:
		t.Error("delete did not ask for confirmation")
	}
	if _, err := p.GetMedia(ctx, m.ID); !errors.Is(err, ximagepipeline.ErrMediaNotFound) {
		t.Errorf("after delete, GetMedia: %v", err)
	}
	status := eval(`(() => ({ text: document.querySelector('#gallery-status').textContent }))()`)
	if !strings.Contains(fmt.Sprint(status["text"]), "Deleted "+m.ID) {
		t.Errorf("gallery status: %v", status)
	}

}

// TestDashboardWithAPIKey: behind API keys the page asks for one, sends it
// with every request, and follows the job by long polls (EventSource cannot
// send it). The upload is a file dropped on the drop zone.
func TestDashboardWithAPIKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const key = "dashboard-test-key-0123456789"
	guard := access.Config{Keys: []access.Key{{Token: key, Permissions: []access.Permission{access.Upload, access.Read, access.Delete}}}}
	b := newBrowser(t, ctx)
	b.expected = func(c chromedp.ConsoleMessage) bool { // the refusals before the key is given
		return c.Source == "network" && strings.Contains(c.Text, "401")
	}
	p, srv := server(t, ctx, func(h http.Handler) http.Handler { return guard.Wrap(prefix, h) })

	b.do("the page asks for a key",
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#key-box[open] #api-key`)),
	)
	b.do("give the key",
		chromedp.SendKeys(chromedp.CSS(`#api-key`), key),
		chromedp.Click(chromedp.CSS(`#key-form button`)),
		chromedp.WaitReady(chromedp.CSS(`#types-table tbody tr`)),
	)
	// This time the file is dropped on the zone: a PNG the page draws.
	b.eval(`new Promise((resolve) => {
		const c = document.createElement('canvas');
		c.width = 320; c.height = 480;
		const g = c.getContext('2d');
		g.fillStyle = '#3a7'; g.fillRect(0, 0, 320, 480);
		g.fillStyle = '#fc3'; g.fillRect(40, 60, 120, 120);
		c.toBlob((blob) => {
			const dt = new DataTransfer();
			dt.items.add(new File([blob], 'dropped.png', { type: 'image/png' }));
			document.querySelector('#dropzone').dispatchEvent(
				new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
			resolve({});
		}, 'image/png');
	})`)
	b.do("upload with the key",
		chromedp.WaitVisible(chromedp.CSS(`#jobs li.job[data-status="COMPLETE"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#gallery-grid li.tile .frame.loaded img`)),
	)
	list, err := p.ListMedia(ctx, "gallery", "demo")
	if err != nil || len(list) != 1 || list[0].Width != 320 || list[0].Height != 480 || list[0].Format != "png" {
		t.Fatalf("ListMedia: %+v %v", list, err)
	}
}
