package fs

import (
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/tffs/tffs/sdk"
)

// statCache keeps the file information of a started container's paths
// for statTTL, so `ls -l` costs one listing and no call per entry, and
// the names of each directory listed within statTTL: a name not among
// them is known missing without a call (tools probe many missing names).
// Every change this mount makes keeps what it holds true: made, removed,
// renamed, put (a setattr's answer) and drop (a write).
type statCache struct {
	mu   sync.Mutex
	m    map[string]cachedInfo
	dirs map[string]*listing
	now  func() time.Time // time.Now; tests set their own clock
	// changes counts the changes of names recorded: a listing fetched
	// while one was made may miss it, and is not kept. writes counts the
	// writes and setattrs that reached the node: a listing fetched while
	// one did keeps its names (they are right) and the information of
	// its entries that are not regular files only.
	changes, writes uint64
}

// statVersion is what version gives: the counts of changes of names and
// of writes.
type statVersion struct{ changes, writes uint64 }

type cachedInfo struct {
	fi      sdk.FileInfo
	at      time.Time
	missing bool // the path did not exist
}

// listing is the complete set of names of a directory when it was listed
// at at, kept up to date with the changes this mount made since.
type listing struct {
	at    time.Time
	names map[string]struct{}
}

// nameMax is the longest name a listing answers missing; a longer one is
// the node's to refuse (ENAMETOOLONG).
const nameMax = 255

// maxCached bounds the cache; past it, expired entries are dropped.
const maxCached = 1 << 14

func (s *statCache) clock() time.Time {
	if s.now != nil {
		return s.now()
	}
	return time.Now()
}

// fresh tells whether something learnt at at may still be answered.
func (s *statCache) fresh(at time.Time) bool { return s.clock().Sub(at) <= statTTL }

// get is the cached information of p; missing when p is known not to
// exist (found missing, or not among its directory's fresh listing).
func (s *statCache) get(p string) (fi sdk.FileInfo, missing, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[p]; ok && s.fresh(e.at) {
		return e.fi, e.missing, true
	}
	if l := s.dirs[path.Dir(p)]; l != nil && p != "/" && len(path.Base(p)) <= nameMax && s.fresh(l.at) {
		if _, in := l.names[path.Base(p)]; !in {
			return sdk.FileInfo{}, true, true
		}
	}
	return sdk.FileInfo{}, false, false
}

func (s *statCache) put(p string, fi sdk.FileInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(p, cachedInfo{fi: fi, at: s.clock()})
}

// putMissing records that p does not exist: lookups of missing names (a
// tool probing for files) are answered here for statTTL too.
func (s *statCache) putMissing(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(p, cachedInfo{at: s.clock(), missing: true})
}

// version is to be taken before a listing is fetched, for listed.
func (s *statCache) version() statVersion {
	s.mu.Lock()
	defer s.mu.Unlock()
	return statVersion{s.changes, s.writes}
}

// listed records a listing of directory dir fetched after version gave
// since: each entry's information and the set of its names, unless a
// change of names was recorded meanwhile (then dir's listing is
// forgotten, so that lookups there stat rather than list it again). When
// a write reached the node meanwhile, the regular files' information is
// not kept (it may be from before the write).
func (s *statCache) listed(dir string, list []sdk.FileInfo, since statVersion) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changes != since.changes {
		delete(s.dirs, dir)
		return
	}
	written := s.writes != since.writes
	now := s.clock()
	l := &listing{at: now, names: make(map[string]struct{}, len(list))}
	for _, fi := range list {
		name := path.Base(fi.Name)
		l.names[name] = struct{}{}
		if written && os.FileMode(fi.Mode).IsRegular() {
			continue
		}
		s.setLocked(path.Join(dir, name), cachedInfo{fi: fi, at: now})
	}
	if s.dirs == nil {
		s.dirs = map[string]*listing{}
	}
	s.dirs[dir] = l
}

func (s *statCache) setLocked(p string, e cachedInfo) {
	if s.m == nil {
		s.m = map[string]cachedInfo{}
	}
	if len(s.m) >= maxCached {
		for k, e := range s.m {
			if !s.fresh(e.at) {
				delete(s.m, k)
			}
		}
		for k, l := range s.dirs {
			if !s.fresh(l.at) {
				delete(s.dirs, k)
			}
		}
		if len(s.m) >= maxCached {
			s.m, s.dirs = map[string]cachedInfo{}, nil
		}
	}
	s.m[p] = e
}

// made records a name this mount made at p (create, mkdir, symlink,
// link, mknod) with its information; its directory's own information
// (times, link count) is forgotten. A directory made is known empty.
func (s *statCache) made(p string, fi sdk.FileInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changes++
	delete(s.m, path.Dir(p))
	s.addNameLocked(p)
	now := s.clock()
	s.setLocked(p, cachedInfo{fi: fi, at: now})
	if os.FileMode(fi.Mode).IsDir() {
		if s.dirs == nil {
			s.dirs = map[string]*listing{}
		}
		s.dirs[p] = &listing{at: now, names: map[string]struct{}{}}
	}
}

// removed records that this mount removed p (and so everything below
// it).
func (s *statCache) removed(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changes++
	s.removeLocked(p)
	s.setLocked(p, cachedInfo{at: s.clock(), missing: true})
}

// renamed records that this mount renamed from to to (replacing what was
// at to): from is missing, to exists with information yet unknown.
func (s *statCache) renamed(from, to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changes++
	s.removeLocked(from)
	s.removeLocked(to)
	s.addNameLocked(to)
	if from != to {
		s.setLocked(from, cachedInfo{at: s.clock(), missing: true})
	}
}

// removeLocked forgets p, everything below it, its directory's
// information, and takes its name out of its directory's listing.
func (s *statCache) removeLocked(p string) {
	dir := path.Dir(p)
	delete(s.m, dir)
	if l := s.dirs[dir]; l != nil {
		delete(l.names, path.Base(p))
	}
	for k := range s.m {
		if k == p || strings.HasPrefix(k, p+"/") {
			delete(s.m, k)
		}
	}
	for k := range s.dirs {
		if k == p || strings.HasPrefix(k, p+"/") {
			delete(s.dirs, k)
		}
	}
}

func (s *statCache) addNameLocked(p string) {
	if l := s.dirs[path.Dir(p)]; l != nil {
		l.names[path.Base(p)] = struct{}{}
	}
}

// maxRelist is the most names a directory may have had for a lookup in
// it to list it again rather than stat the one name.
const maxRelist = 4096

// relist tells whether dir was listed before (and its listing is no
// longer fresh) with at most maxRelist names: a directory being worked in,
// where listing it again answers this lookup and the next ones of the
// next statTTL for the price of one stat.
func (s *statCache) relist(dir string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.dirs[dir]
	return l != nil && !s.fresh(l.at) && len(l.names) <= maxRelist
}

// unknown forgets what is known of p and of its directory's names (a
// change of p failed: p may be anything now).
func (s *statCache) unknown(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changes++
	delete(s.m, p)
	delete(s.m, path.Dir(p))
	delete(s.dirs, path.Dir(p))
}

// otherNames forgets the information of every path but p known to be the
// same file as p (a hard link of it: its link count changes when p is
// removed) and returns those paths.
func (s *statCache) otherNames(p string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[p]
	if !ok || e.missing || !e.fi.Full || e.fi.Nlink < 2 || os.FileMode(e.fi.Mode).IsDir() {
		return nil
	}
	var out []string
	for k, o := range s.m {
		if k != p && !o.missing && o.fi.Full && o.fi.Ino == e.fi.Ino {
			out = append(out, k)
			delete(s.m, k)
		}
	}
	return out
}

// drop forgets the information of the paths given and of their
// directories (whose times and link counts a change of an entry
// changes); the names stay known.
func (s *statCache) drop(ps ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ps {
		delete(s.m, p)
		delete(s.m, path.Dir(p))
	}
}

// written forgets p's information (and its directory's) once a write or
// setattr of this mount reached the node (or was queued), and keeps no
// regular file's information from a listing fetched meanwhile (it may
// hold p's size from before).
func (s *statCache) written(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	delete(s.m, p)
	delete(s.m, path.Dir(p))
}

// reset forgets everything (the container's files were replaced).
func (s *statCache) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changes++
	s.m, s.dirs = nil, nil
}
